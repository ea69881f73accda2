package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/wire"
)

// Model delivery record kinds on the compacted models topic
// (docs/formats/model-delivery.md):
//
//	key NAME                       pointer: ModelEnvelope of the version NAME should run; tombstone retires NAME
//	key NAME/VERSION/manifest      archive: ModelEnvelope of VERSION (kept for list and rollback)
//	key NAME/VERSION/chunk/I       chunk I (0-based) of VERSION's ONNX bytes
const (
	HeaderModelKind = wire.HeaderModelKind // pointer, archive, chunk
	HeaderChunk     = wire.HeaderChunk     // "I/N"

	kindPointer = "pointer"
	kindArchive = "archive"
	kindChunk   = "chunk"

	// DefaultChunkSize keeps each chunk record well under Kafka's default
	// 1 MB message.max.bytes (one record per batch plus headers).
	DefaultChunkSize = 512 << 10
	// minChunkSize is the smallest chunk size accepted (it bounds the
	// number of chunk files a model can make on the gateway).
	minChunkSize = 1 << 10

	// maxChunks bounds the chunks of one version.
	maxChunks = 1 << 20
)

// ModelEnvelope is the JSON value of a pointer or archive record.
type ModelEnvelope struct {
	Schema  int    `json:"schema"` // 1
	Name    string `json:"name"`
	Version string `json:"version"`
	// Manifest is the exact manifest.json bytes the signature covers (base64 in JSON).
	Manifest []byte `json:"manifest"`
	// Signature is the ed25519 signature (base64), empty when unsigned.
	Signature  []byte `json:"signature,omitempty"`
	ONNXSHA256 string `json:"onnx_sha256"`
	ONNXSize   int64  `json:"onnx_size"`
	ChunkSize  int    `json:"chunk_size"`
	Chunks     int    `json:"chunks"`
	// ChunkSHA256 is the hex sha256 of each chunk, to name a corrupted one.
	ChunkSHA256 []string  `json:"chunk_sha256"`
	Published   time.Time `json:"published"`
	// RolledBackFrom is set on a pointer written by `edgepm model rollback`.
	RolledBackFrom string `json:"rolled_back_from,omitempty"`
	// Release (schema 2 pointers) is the exact JSON bytes of the signed
	// Release, and ReleaseSignature its ed25519 signature (both base64 in
	// JSON). Archive records carry neither.
	Release          []byte `json:"release,omitempty"`
	ReleaseSignature []byte `json:"release_signature,omitempty"`
}

// ID is "name:version".
func (e *ModelEnvelope) ID() string { return e.Name + ":" + e.Version }

func (e *ModelEnvelope) validate() error {
	switch {
	case e.Schema != 1 && e.Schema != 2:
		return fmt.Errorf("model envelope schema %d not supported", e.Schema)
	case !modelpkg.ValidName(e.Name) || !modelpkg.ValidName(e.Version):
		return fmt.Errorf("model envelope: bad name %q or version %q", e.Name, e.Version)
	case e.Chunks < 0 || e.Chunks >= maxChunks || len(e.ChunkSHA256) != e.Chunks:
		return fmt.Errorf("model envelope %s: %d chunks with %d digests", e.ID(), e.Chunks, len(e.ChunkSHA256))
	case e.ONNXSize < 0 || e.ChunkSize < minChunkSize && e.Chunks > 0:
		return fmt.Errorf("model envelope %s: size %d chunk size %d", e.ID(), e.ONNXSize, e.ChunkSize)
	case e.Chunks > 0 && e.ONNXSize <= int64(e.Chunks-1)*int64(e.ChunkSize),
		e.ONNXSize > int64(e.Chunks)*int64(e.ChunkSize):
		return fmt.Errorf("model envelope %s: %d chunks of %d bytes cannot hold %d bytes", e.ID(), e.Chunks, e.ChunkSize, e.ONNXSize)
	}
	return nil
}

// chunkLen is the exact length of chunk i (every chunk is ChunkSize bytes
// but the last, which holds the rest).
func (e *ModelEnvelope) chunkLen(i int) int64 {
	if i == e.Chunks-1 {
		return e.ONNXSize - int64(i)*int64(e.ChunkSize)
	}
	return int64(e.ChunkSize)
}

func decodeEnvelope(b []byte) (*ModelEnvelope, error) {
	var e ModelEnvelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode model envelope: %w", err)
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

func archiveKey(name, version string) string { return name + "/" + version + "/manifest" }
func chunkKey(name, version string, i int) string {
	return name + "/" + version + "/chunk/" + strconv.Itoa(i)
}

// modelKey is a parsed models-topic key.
type modelKey struct {
	kind, name, version string
	chunk               int
}

// parseModelKey parses a models-topic key; ok is false for anything that is
// not exactly one of the three forms with a valid name, version and chunk
// index (decimal, no sign or leading zeros, below maxChunks).
func parseModelKey(k string) (modelKey, bool) {
	parts := strings.Split(k, "/")
	if !modelpkg.ValidName(parts[0]) {
		return modelKey{}, false
	}
	switch {
	case len(parts) == 1:
		return modelKey{kind: kindPointer, name: parts[0]}, true
	case len(parts) == 3 && parts[2] == "manifest" && modelpkg.ValidName(parts[1]):
		return modelKey{kind: kindArchive, name: parts[0], version: parts[1]}, true
	case len(parts) == 4 && parts[2] == "chunk" && modelpkg.ValidName(parts[1]):
		i, ok := parseChunkIndex(parts[3])
		return modelKey{kind: kindChunk, name: parts[0], version: parts[1], chunk: i}, ok
	}
	return modelKey{}, false
}

func parseChunkIndex(s string) (int, bool) {
	if s == "" || len(s) > 7 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= maxChunks || strconv.Itoa(i) != s {
		return 0, false
	}
	return i, true
}

// splitPackage builds the envelope and chunks of a package.
func splitPackage(pkg *modelpkg.Package, chunkSize int, now time.Time) (*ModelEnvelope, [][]byte, error) {
	man, err := pkg.Decode()
	if err != nil {
		return nil, nil, err
	}
	if err := modelpkg.ValidateName("model name", man.Name); err != nil {
		return nil, nil, err
	}
	if err := modelpkg.ValidateName("model version", man.Version); err != nil {
		return nil, nil, err
	}
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	if chunkSize < minChunkSize || int64(len(pkg.ONNX)) > int64(chunkSize)*(maxChunks-1) {
		return nil, nil, fmt.Errorf("chunk size %d: must be at least %d and leave fewer than %d chunks", chunkSize, minChunkSize, maxChunks)
	}
	env := &ModelEnvelope{
		Schema: 1, Name: man.Name, Version: man.Version, Manifest: pkg.Manifest, Signature: pkg.Signature,
		ONNXSHA256: modelpkg.SHA256Hex(pkg.ONNX), ONNXSize: int64(len(pkg.ONNX)), ChunkSize: chunkSize,
		Published: now.UTC(),
	}
	var chunks [][]byte
	for off := 0; off < len(pkg.ONNX); off += chunkSize {
		c := pkg.ONNX[off:min(off+chunkSize, len(pkg.ONNX))]
		chunks = append(chunks, c)
		s := sha256.Sum256(c)
		env.ChunkSHA256 = append(env.ChunkSHA256, hex.EncodeToString(s[:]))
	}
	env.Chunks = len(chunks)
	return env, chunks, nil
}
