package bridge

import (
	"strings"
	"testing"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

func TestParseModelKey(t *testing.T) {
	good := []struct {
		key                 string
		kind, name, version string
		chunk               int
	}{
		{"pump-health", kindPointer, "pump-health", "", 0},
		{"pump-health/2.0.0/manifest", kindArchive, "pump-health", "2.0.0", 0},
		{"pump-health/2.0.0-rc.1+build.7/chunk/12", kindChunk, "pump-health", "2.0.0-rc.1+build.7", 12},
		{"M_1/v1/chunk/0", kindChunk, "M_1", "v1", 0},
	}
	for _, g := range good {
		k, ok := parseModelKey(g.key)
		if !ok || k.kind != g.kind || k.name != g.name || k.version != g.version || k.chunk != g.chunk {
			t.Errorf("%q: got %+v %v", g.key, k, ok)
		}
	}
	bad := []string{
		"", ".", "..", "../../chunk/0", "../x/chunk/0", "x/../chunk/0", "x/./chunk/0", "./x/chunk/0",
		"x/..", ".hidden", ".staging/1/chunk/0", "x/.1/chunk/0", "x/1/chunk/0/extra", "x//chunk/0",
		"x/1/chunk/", "x/1/chunk/-1", "x/1/chunk/+1", "x/1/chunk/01", "x/1/chunk/1e3", "x/1/chunk/99999999",
		"x/1/chunk/1048576", `a\b`, `x/a\..\b/chunk/0`, "x/1 0/chunk/0", "x\x00y", "x/1\n/chunk/0",
		"x/1\x7f/chunk/0", "x:1", "x/current/chunk/0", "x/current/manifest", "current/1/manifest",
		"ü/1/chunk/0", "-x", "x/_1/manifest", strings.Repeat("a", modelpkg.MaxNameLen+1),
		"x/" + strings.Repeat("1", modelpkg.MaxNameLen+1) + "/chunk/0", "x/1/manifest/", "x/1/other/0",
	}
	for _, key := range bad {
		if k, ok := parseModelKey(key); ok {
			t.Errorf("%q accepted as %+v", key, k)
		}
	}
}

func TestEnvelopeSizesMustAgree(t *testing.T) {
	env := func(size int64, chunkSize, chunks int) *ModelEnvelope {
		return &ModelEnvelope{Schema: 1, Name: "m", Version: "1", ONNXSize: size, ChunkSize: chunkSize,
			Chunks: chunks, ChunkSHA256: make([]string, chunks)}
	}
	for _, e := range []*ModelEnvelope{
		env(10000, 4096, 2),     // too few chunks
		env(10000, 4096, 4),     // one chunk too many
		env(10000, 100, 100),    // chunk size below minChunkSize
		env(-1, 4096, 0),        // negative size
		env(1, 4096, 0),         // bytes but no chunks
		env(1<<40, 4096, 1<<20), // too many chunks
	} {
		if err := e.validate(); err == nil {
			t.Errorf("%+v accepted", e)
		}
	}
	if err := env(10000, 4096, 3).validate(); err != nil {
		t.Fatal(err)
	}
	if e := env(10000, 4096, 3); e.chunkLen(0) != 4096 || e.chunkLen(2) != 10000-8192 {
		t.Fatalf("chunk lengths %d %d", e.chunkLen(0), e.chunkLen(2))
	}
}
