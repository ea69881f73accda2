package bridge

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// The model-delivery decoders are pure functions from what the models topic
// holds (keys and values anyone with write access to it can choose) to
// values or an error. These targets prove they never panic and that what
// they accept is consistent. Seeds: testdata/fuzz/<target>.

// FuzzParseModelKey: an accepted key is exactly one of the three forms,
// with names that are safe path elements, and formats back to itself.
func FuzzParseModelKey(f *testing.F) {
	for _, k := range []string{"pump-health", "pump-health/2.0.0/manifest", "pump-health/2.0.0/chunk/12", "x/../chunk/0", "x/1/chunk/01"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		k, ok := parseModelKey(key)
		if !ok {
			return
		}
		var again string
		switch k.kind {
		case kindPointer:
			again = k.name
		case kindArchive:
			again = archiveKey(k.name, k.version)
		case kindChunk:
			again = chunkKey(k.name, k.version, k.chunk)
			if k.chunk < 0 || k.chunk >= maxChunks {
				t.Fatalf("%q: chunk index %d out of range", key, k.chunk)
			}
		default:
			t.Fatalf("%q: kind %q", key, k.kind)
		}
		if again != key {
			t.Fatalf("%q parsed as %+v, which formats as %q", key, k, again)
		}
		if !modelpkg.ValidName(k.name) || k.kind != kindPointer && !modelpkg.ValidName(k.version) {
			t.Fatalf("%q: accepted name %q version %q", key, k.name, k.version)
		}
	})
}

// FuzzDecodeEnvelope: an accepted envelope's chunks hold exactly its
// declared size, each chunk no longer than the chunk size, and it survives
// a JSON round trip unchanged.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"schema":1,"name":"m","version":"1","manifest":"e30=","onnx_sha256":"","onnx_size":0,"chunk_size":0,"chunks":0,"chunk_sha256":[],"published":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		if env.Chunks > 0 {
			first, last := env.chunkLen(0), env.chunkLen(env.Chunks-1)
			if first <= 0 || first > int64(env.ChunkSize) || last <= 0 || last > int64(env.ChunkSize) ||
				int64(env.Chunks-1)*int64(env.ChunkSize)+last != env.ONNXSize {
				t.Fatalf("%d chunks of %d (first %d, last %d) for %d bytes", env.Chunks, env.ChunkSize, first, last, env.ONNXSize)
			}
		} else if env.ONNXSize != 0 {
			t.Fatalf("no chunks for %d bytes", env.ONNXSize)
		}
		again, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		env2, err := decodeEnvelope(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if again2, _ := json.Marshal(env2); string(again2) != string(again) {
			t.Fatalf("round trip changed the envelope:\n%s\n%s", again, again2)
		}
	})
}

// FuzzDecodePointer: a pointer value is accepted only when envelope,
// manifest and key agree; a rejection carries the envelope or manifest
// reason.
func FuzzDecodePointer(f *testing.F) {
	f.Add("m", []byte(`{"schema":1,"name":"m","version":"1","manifest":"e30=","chunk_sha256":[]}`))
	f.Add("m", []byte(`null`))
	f.Fuzz(func(t *testing.T, name string, v []byte) {
		env, man, reason, err := decodePointer(name, v)
		if err != nil {
			if reason != modelpkg.ReasonEnvelope && reason != modelpkg.ReasonManifest {
				t.Fatalf("rejected with reason %q: %v", reason, err)
			}
			return
		}
		if reason != "" || env == nil || man == nil {
			t.Fatalf("accepted with reason %q, envelope %v, manifest %v", reason, env, man)
		}
		if env.Name != name || man.Name != name || man.Version != env.Version || man.ONNXSHA256 != env.ONNXSHA256 ||
			strings.ContainsAny(env.Version, "/\\") {
			t.Fatalf("accepted a pointer that disagrees: key %q, envelope %s, manifest %s", name, env.ID(), man.ID())
		}
	})
}
