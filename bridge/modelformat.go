package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgepm/edgepm/inference"
)

// Model delivery record kinds on the compacted models topic
// (docs/formats/model-delivery.md):
//
//	key NAME                       pointer: ModelEnvelope of the version NAME should run; tombstone retires NAME
//	key NAME/VERSION/manifest      archive: ModelEnvelope of VERSION (kept for list and rollback)
//	key NAME/VERSION/chunk/I       chunk I (0-based) of VERSION's ONNX bytes
const (
	HeaderModelKind = "edgepm-model-kind" // pointer, archive, chunk
	HeaderChunk     = "edgepm-chunk"      // "I/N"

	kindPointer = "pointer"
	kindArchive = "archive"
	kindChunk   = "chunk"

	// DefaultChunkSize keeps each chunk record well under Kafka's default
	// 1 MB message.max.bytes (one record per batch plus headers).
	DefaultChunkSize = 512 << 10
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
}

// ID is "name:version".
func (e *ModelEnvelope) ID() string { return e.Name + ":" + e.Version }

func (e *ModelEnvelope) validate() error {
	switch {
	case e.Schema != 1:
		return fmt.Errorf("model envelope schema %d not supported", e.Schema)
	case !validModelName(e.Name) || !validModelName(e.Version):
		return fmt.Errorf("model envelope: bad name %q or version %q", e.Name, e.Version)
	case e.Chunks < 0 || e.Chunks > 1<<20 || len(e.ChunkSHA256) != e.Chunks:
		return fmt.Errorf("model envelope %s: %d chunks with %d digests", e.ID(), e.Chunks, len(e.ChunkSHA256))
	case e.ONNXSize < 0 || e.ChunkSize <= 0 && e.Chunks > 0:
		return fmt.Errorf("model envelope %s: size %d chunk size %d", e.ID(), e.ONNXSize, e.ChunkSize)
	}
	return nil
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

// validModelName: no '/', not empty, printable, at most 200 bytes.
func validModelName(s string) bool {
	if s == "" || len(s) > 200 || strings.ContainsAny(s, "/\x00") {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
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

func parseModelKey(k string) (modelKey, bool) {
	parts := strings.Split(k, "/")
	switch {
	case len(parts) == 1 && validModelName(parts[0]):
		return modelKey{kind: kindPointer, name: parts[0]}, true
	case len(parts) == 3 && parts[2] == "manifest":
		return modelKey{kind: kindArchive, name: parts[0], version: parts[1]}, validModelName(parts[0])
	case len(parts) == 4 && parts[2] == "chunk":
		i, err := strconv.Atoi(parts[3])
		if err != nil || i < 0 {
			return modelKey{}, false
		}
		return modelKey{kind: kindChunk, name: parts[0], version: parts[1], chunk: i}, validModelName(parts[0])
	}
	return modelKey{}, false
}

// splitPackage builds the envelope and chunks of a package.
func splitPackage(pkg *inference.Package, chunkSize int, now time.Time) (*ModelEnvelope, [][]byte, error) {
	man, err := pkg.Decode()
	if err != nil {
		return nil, nil, err
	}
	if !validModelName(man.Name) || !validModelName(man.Version) {
		return nil, nil, fmt.Errorf("model name %q / version %q: must be non-empty without '/'", man.Name, man.Version)
	}
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	env := &ModelEnvelope{
		Schema: 1, Name: man.Name, Version: man.Version, Manifest: pkg.Manifest, Signature: pkg.Signature,
		ONNXSHA256: inference.SHA256Hex(pkg.ONNX), ONNXSize: int64(len(pkg.ONNX)), ChunkSize: chunkSize,
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
