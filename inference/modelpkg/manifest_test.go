package modelpkg

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManifestRoundTripAndStrictness(t *testing.T) {
	pkg := testPackage(t, "m", "1", 6)
	man, err := pkg.Decode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := man.Encode()
	if err != nil || string(b) != string(pkg.Manifest) {
		t.Fatalf("encode is not stable: %v", err)
	}
	bad := map[string]string{
		"unknown field":  strings.Replace(string(b), `"name"`, `"nmae": "x", "name"`, 1),
		"trailing data":  string(b) + "{}",
		"not json":       "{",
		"bad sha":        strings.Replace(string(b), man.ONNXSHA256, "abc", 1),
		"upper sha":      strings.Replace(string(b), man.ONNXSHA256, strings.ToUpper(man.ONNXSHA256), 1),
		"bad semantics":  strings.Replace(string(b), `"output_semantics": "failure_probability"`, `"output_semantics": "vibes"`, 1),
		"raise < clear":  strings.Replace(string(b), `"raise": 0.7`, `"raise": 0.2`, 1),
		"bad duration":   strings.Replace(string(b), `"min_duration": "0s"`, `"min_duration": "soon"`, 1),
		"no samples":     strings.Replace(string(b), `"samples": [`, `"samples": [], "x": [`, 1),
		"bad glob":       strings.Replace(string(b), `"targeting": {}`, `"targeting": {"gateways": ["["]}`, 1),
		"schema version": strings.Replace(string(b), `"schema_version": 1`, `"schema_version": 7`, 1),
	}
	for name, s := range bad {
		if s == string(b) {
			t.Fatalf("%s: edit did not apply", name)
		}
		if _, err := DecodeManifest([]byte(s)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzDecodeManifest: the decoder never panics, and whatever it accepts
// re-encodes to a manifest it accepts again with the same content.
func FuzzDecodeManifest(f *testing.F) {
	// Seeds are in testdata/fuzz/FuzzDecodeManifest. The 10 KB default
	// manifest is deliberately not a seed: minimising large interesting
	// inputs stalls the fuzzer; TestDefaultManifestDecodes covers it.
	f.Add([]byte(`{"schema_version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		j1, _ := json.Marshal(m)
		j2, _ := json.Marshal(m2)
		if string(j1) != string(j2) {
			t.Fatalf("round trip changed the manifest:\n%s\n%s", j1, j2)
		}
	})
}

func TestDefaultManifestDecodes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "models", "default", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Features) != 32 || len(m.FeatureStats) != 32 || len(m.Samples) == 0 {
		t.Fatalf("default manifest: %d features, %d stats, %d samples", len(m.Features), len(m.FeatureStats), len(m.Samples))
	}
}
