package inference

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

func testKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	priv := ed25519.NewKeyFromSeed(s)
	return priv.Public().(ed25519.PublicKey), priv
}

// variant builds a signed package from a graph and a manifest edited by edit.
func variant(t *testing.T, priv ed25519.PrivateKey, g *onnxgen.Model, f int, edit func(*modelpkg.Manifest, *[]byte)) *modelpkg.Package {
	t.Helper()
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	man := testManifest("cand", "2", g, testSpecs(f))
	man.ONNXSHA256 = modelpkg.SHA256Hex(onnx)
	if edit != nil {
		edit(man, &onnx)
	}
	b, err := man.Encode()
	if err != nil {
		t.Fatal(err)
	}
	pkg := &modelpkg.Package{Manifest: b, ONNX: onnx}
	if err := modelpkg.Sign(pkg, priv); err != nil {
		t.Fatal(err)
	}
	return pkg
}

// TestRejectionsKeepOldModelServing: every check of Engine.Load rejects with
// its reason and the old model keeps scoring. The signature is not the
// engine's check: modelpkg's TestPolicyRejects and the bridge's watcher
// security tests cover forged and unsigned packages.
func TestRejectionsKeepOldModelServing(t *testing.T) {
	_, priv := testKey(1)
	e := newTestEngine(t, EngineConfig{})
	good := variant(t, priv, testGraph(8, 16, 7), 8, func(m *modelpkg.Manifest, _ *[]byte) { m.Name, m.Version = "good", "1" })
	if err := e.Load(good); err != nil {
		t.Fatal(err)
	}
	c := startRun(t, e)
	g := testGraph(8, 16, 9)
	cases := []struct {
		name   string
		pkg    *modelpkg.Package
		reason string
	}{
		{"wrong sha256", variant(t, priv, g, 8, func(m *modelpkg.Manifest, _ *[]byte) { m.ONNXSHA256 = strings.Repeat("0", 64) }), modelpkg.ReasonSHA256},
		{"onnx swapped after signing", func() *modelpkg.Package { p := variant(t, priv, g, 8, nil); p.ONNX = append(p.ONNX, 0); return p }(), modelpkg.ReasonSHA256},
		{"corrupt onnx", variant(t, priv, g, 8, func(m *modelpkg.Manifest, o *[]byte) {
			*o = append([]byte(nil), (*o)[:len(*o)/2]...)
			(*o)[3] ^= 0xff
			m.ONNXSHA256 = modelpkg.SHA256Hex(*o)
		}), modelpkg.ReasonONNXLoad},
		{"garbage onnx", variant(t, priv, g, 8, func(m *modelpkg.Manifest, o *[]byte) {
			*o = []byte("not a model")
			m.ONNXSHA256 = modelpkg.SHA256Hex(*o)
		}), modelpkg.ReasonONNXLoad},
		{"wrong input shape", variant(t, priv, g, 8, func(m *modelpkg.Manifest, _ *[]byte) {
			m.Features = testSpecs(9)
			m.FeatureStats = append(m.FeatureStats, modelpkg.FeatureStat{})
			for i := range m.Samples {
				m.Samples[i].Input = append(m.Samples[i].Input, 0)
			}
		}), modelpkg.ReasonInputShape},
		{"wrong input name", variant(t, priv, g, 8, func(m *modelpkg.Manifest, _ *[]byte) { m.InputName = "x" }), modelpkg.ReasonInputName},
		{"missing output", variant(t, priv, g, 8, func(m *modelpkg.Manifest, _ *[]byte) { m.OutputName = "rul" }), modelpkg.ReasonMissingOutput},
		{"sample mismatch", variant(t, priv, g, 8, func(m *modelpkg.Manifest, _ *[]byte) { m.Samples[1].Output[0] += 0.01 }), modelpkg.ReasonSampleMismatch},
		{"sample output width", variant(t, priv, g, 8, func(m *modelpkg.Manifest, _ *[]byte) { m.Samples[0].Output = append(m.Samples[0].Output, 1) }), modelpkg.ReasonSampleMismatch},
		{"unknown statistic", variant(t, priv, g, 8, func(m *modelpkg.Manifest, _ *[]byte) { m.Features[2].Stat = "median" }), modelpkg.ReasonFeatureSpec},
		{"bad window", variant(t, priv, g, 8, func(m *modelpkg.Manifest, _ *[]byte) { m.Window.Kind = "sliding" }), modelpkg.ReasonFeatureSpec},
		{"bad manifest", func() *modelpkg.Package {
			p := &modelpkg.Package{Manifest: []byte(`{"schema_version": 2}`), ONNX: []byte{1}}
			_ = modelpkg.Sign(p, priv)
			return p
		}(), modelpkg.ReasonManifest},
		{"targeting", variant(t, priv, g, 8, func(m *modelpkg.Manifest, _ *[]byte) { m.Targeting.Gateways = []string{"other-*"} }), modelpkg.ReasonTargeting},
	}
	ctx := context.Background()
	i := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Load(tc.pkg)
			var re *modelpkg.RejectError
			if !errors.As(err, &re) || re.Reason != tc.reason {
				t.Fatalf("got %v, want reason %q", err, tc.reason)
			}
			t.Logf("%v", err)
			if n, v, _ := e.Active(); n != "good" || v != "1" {
				t.Fatalf("active model changed to %s:%s", n, v)
			}
			// The old model keeps scoring.
			before := c.count()
			for k := 0; k < 10; k++ {
				if err := e.Observe(ctx, reading("dev", i)); err != nil {
					t.Fatal(err)
				}
				i++
			}
			waitFor(t, "predictions from the old model", func() bool { return c.count() > before })
		})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.preds {
		if p.Model != "good" {
			t.Fatalf("prediction from %s", p.Model)
		}
	}
}
