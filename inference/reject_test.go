package inference

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/internal/onnxgen"
)

func testKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	priv := ed25519.NewKeyFromSeed(s)
	return priv.Public().(ed25519.PublicKey), priv
}

// variant builds a signed package from a graph and a manifest edited by edit.
func variant(t *testing.T, priv ed25519.PrivateKey, g *onnxgen.Model, f int, edit func(*Manifest, *[]byte)) *Package {
	t.Helper()
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	man := testManifest("cand", "2", g, testSpecs(f))
	man.ONNXSHA256 = SHA256Hex(onnx)
	if edit != nil {
		edit(man, &onnx)
	}
	b, err := man.Encode()
	if err != nil {
		t.Fatal(err)
	}
	pkg := &Package{Manifest: b, ONNX: onnx}
	if err := Sign(pkg, priv); err != nil {
		t.Fatal(err)
	}
	return pkg
}

func TestRejectionsKeepOldModelServing(t *testing.T) {
	pub, priv := testKey(1)
	_, otherPriv := testKey(2)
	e := newTestEngine(t, EngineConfig{PublicKeys: []ed25519.PublicKey{pub}})
	good := variant(t, priv, testGraph(8, 16, 7), 8, func(m *Manifest, _ *[]byte) { m.Name, m.Version = "good", "1" })
	if err := e.Load(good); err != nil {
		t.Fatal(err)
	}
	c := startRun(t, e)
	g := testGraph(8, 16, 9)
	cases := []struct {
		name   string
		pkg    *Package
		reason string
	}{
		{"bad signature", func() *Package { p := variant(t, priv, g, 8, nil); p.Signature[0] ^= 1; return p }(), ReasonSignature},
		{"wrong key", variant(t, otherPriv, g, 8, nil), ReasonSignature},
		{"unsigned", func() *Package { p := variant(t, priv, g, 8, nil); p.Signature = nil; return p }(), ReasonSignature},
		{"manifest edited after signing", func() *Package {
			p := variant(t, priv, g, 8, nil)
			p.Manifest = []byte(strings.Replace(string(p.Manifest), `"raise": 0.7`, `"raise": 0.9`, 1))
			return p
		}(), ReasonSignature},
		{"wrong sha256", variant(t, priv, g, 8, func(m *Manifest, _ *[]byte) { m.ONNXSHA256 = strings.Repeat("0", 64) }), ReasonSHA256},
		{"onnx swapped after signing", func() *Package { p := variant(t, priv, g, 8, nil); p.ONNX = append(p.ONNX, 0); return p }(), ReasonSHA256},
		{"corrupt onnx", variant(t, priv, g, 8, func(m *Manifest, o *[]byte) {
			*o = append([]byte(nil), (*o)[:len(*o)/2]...)
			(*o)[3] ^= 0xff
			m.ONNXSHA256 = SHA256Hex(*o)
		}), ReasonONNXLoad},
		{"garbage onnx", variant(t, priv, g, 8, func(m *Manifest, o *[]byte) { *o = []byte("not a model"); m.ONNXSHA256 = SHA256Hex(*o) }), ReasonONNXLoad},
		{"wrong input shape", variant(t, priv, g, 8, func(m *Manifest, _ *[]byte) {
			m.Features = testSpecs(9)
			m.FeatureStats = append(m.FeatureStats, FeatureStat{})
			for i := range m.Samples {
				m.Samples[i].Input = append(m.Samples[i].Input, 0)
			}
		}), ReasonInputShape},
		{"wrong input name", variant(t, priv, g, 8, func(m *Manifest, _ *[]byte) { m.InputName = "x" }), ReasonInputName},
		{"missing output", variant(t, priv, g, 8, func(m *Manifest, _ *[]byte) { m.OutputName = "rul" }), ReasonMissingOutput},
		{"sample mismatch", variant(t, priv, g, 8, func(m *Manifest, _ *[]byte) { m.Samples[1].Output[0] += 0.01 }), ReasonSampleMismatch},
		{"sample output width", variant(t, priv, g, 8, func(m *Manifest, _ *[]byte) { m.Samples[0].Output = append(m.Samples[0].Output, 1) }), ReasonSampleMismatch},
		{"unknown statistic", variant(t, priv, g, 8, func(m *Manifest, _ *[]byte) { m.Features[2].Stat = "median" }), ReasonFeatureSpec},
		{"bad window", variant(t, priv, g, 8, func(m *Manifest, _ *[]byte) { m.Window.Kind = "sliding" }), ReasonFeatureSpec},
		{"bad manifest", func() *Package {
			p := &Package{Manifest: []byte(`{"schema_version": 2}`), ONNX: []byte{1}}
			_ = Sign(p, priv)
			return p
		}(), ReasonManifest},
		{"targeting", variant(t, priv, g, 8, func(m *Manifest, _ *[]byte) { m.Targeting.Gateways = []string{"other-*"} }), ReasonTargeting},
	}
	ctx := context.Background()
	i := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Load(tc.pkg)
			var re *RejectError
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

func TestSignVerify(t *testing.T) {
	pub, priv := testKey(3)
	pub2, _ := testKey(4)
	pkg := &Package{Manifest: []byte(`{"a":1}`), ONNX: []byte{1, 2}}
	if _, err := Verify(pkg, []ed25519.PublicKey{pub}); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	if err := Sign(pkg, priv); err != nil {
		t.Fatal(err)
	}
	if i, err := Verify(pkg, []ed25519.PublicKey{pub2, pub}); err != nil || i != 1 {
		t.Fatalf("verify: %d %v", i, err)
	}
	if !ed25519.Verify(pub, append([]byte(SignatureContext), sha256Of(pkg.Manifest)...), pkg.Signature) {
		t.Fatal("signature is not over the documented canonical bytes")
	}
	sig, err := DecodeSignature(EncodeSignature(pkg.Signature))
	if err != nil || string(sig) != string(pkg.Signature) {
		t.Fatalf("signature round trip: %v", err)
	}
	if raw, err := DecodeSignature(pkg.Signature); err != nil || string(raw) != string(pkg.Signature) {
		t.Fatalf("raw signature: %v", err)
	}
	if _, err := DecodeSignature([]byte("bm90IGEgc2lnbmF0dXJl\n")); err == nil {
		t.Fatal("short signature accepted")
	}
	pkg.Manifest = append(pkg.Manifest, ' ')
	if _, err := Verify(pkg, []ed25519.PublicKey{pub}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered: %v", err)
	}
	if err := Sign(pkg, priv[:10]); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestPackageDirRoundTrip(t *testing.T) {
	_, priv := testKey(5)
	pkg := testPackage(t, "m", "1", 4)
	if err := Sign(pkg, priv); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WritePackageDir(dir, pkg); err != nil {
		t.Fatal(err)
	}
	got, err := LoadPackageDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Manifest) != string(pkg.Manifest) || string(got.ONNX) != string(pkg.ONNX) || string(got.Signature) != string(pkg.Signature) {
		t.Fatal("round trip changed the package")
	}
	pkg.Signature = nil
	if err := WritePackageDir(dir, pkg); err != nil {
		t.Fatal(err)
	}
	if got, err = LoadPackageDir(dir); err != nil || got.Signature != nil {
		t.Fatalf("unsigned round trip: %v %v", err, got.Signature)
	}
	if _, err := LoadPackageDir(t.TempDir()); err == nil {
		t.Fatal("empty dir accepted")
	}
}
