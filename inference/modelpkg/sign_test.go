package modelpkg

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// ReadPrivateKey reads what `edgepm keygen` writes and refuses anything
// else, naming the file.
func TestReadPrivateKey(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "k"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte(base64.StdEncoding.EncodeToString(priv)+"\n"), 0o600)
	os.WriteFile(bad, []byte(base64.StdEncoding.EncodeToString(priv[:32])), 0o600)
	if got, err := ReadPrivateKey(good); err != nil || !got.Equal(priv) {
		t.Fatalf("good key: %v", err)
	}
	if _, err := ReadPrivateKey(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("short key: %v", err)
	}
	if _, err := ReadPrivateKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}
