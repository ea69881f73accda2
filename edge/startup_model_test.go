package edge

import (
	"crypto/ed25519"
	"encoding/base64"
	"log/slog"
	"testing"

	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/models"
)

// startupPackage writes the default model renamed to dir-model:VERSION into
// a directory, signed with priv unless priv is nil.
func startupPackage(t *testing.T, version string, priv ed25519.PrivateKey, edit func(*modelpkg.Package)) string {
	t.Helper()
	mb, onnx := models.Default()
	man, err := modelpkg.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	man.Name, man.Version = "dir-model", version
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	if priv != nil {
		if err := modelpkg.Sign(pkg, priv); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(pkg)
	}
	dir := t.TempDir()
	if err := modelpkg.WritePackageDir(dir, pkg); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStartupModelAppliesThePolicy: inference.model_dir is served only when
// it passes the signature policy built from the config; otherwise the
// embedded default serves (it is trusted as part of the binary).
func TestStartupModelAppliesThePolicy(t *testing.T) {
	if err := inference.InitRuntime(testONNXRuntimeLib(t)); err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(pub)
	cases := []struct {
		name          string
		dir           string
		keys          []string
		allowUnsigned bool
		want          string // model served
	}{
		{"signed", startupPackage(t, "1", priv, nil), []string{key}, false, "dir-model"},
		{"unsigned", startupPackage(t, "2", nil, nil), []string{key}, false, "edgepm-default"},
		{"unsigned, allow_unsigned", startupPackage(t, "3", nil, nil), nil, true, "dir-model"},
		{"other key", startupPackage(t, "4", otherPriv, nil), []string{key}, false, "edgepm-default"},
		{"forged, allow_unsigned", startupPackage(t, "5", priv, func(p *modelpkg.Package) { p.Signature[0] ^= 1 }), []string{key}, true, "edgepm-default"},
		{"signed, no keys", startupPackage(t, "6", priv, nil), nil, false, "edgepm-default"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			cfg.Inference.ModelDir = tc.dir
			cfg.Inference.PublicKeys = tc.keys
			cfg.Inference.AllowUnsigned = tc.allowUnsigned
			policy, err := cfg.Inference.policy()
			if err != nil {
				t.Fatal(err)
			}
			eng, err := inference.NewEngine(inference.EngineConfig{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = eng.Close() })
			if err := loadStartupModel(eng.Load, cfg, policy, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if name, _, ok := eng.Active(); !ok || name != tc.want {
				t.Fatalf("serving %q, want %q", name, tc.want)
			}
		})
	}
}
