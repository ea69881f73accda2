package inference

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

// An unsigned package is rejected by Load without AllowUnsigned but served
// by LoadBuiltin (the embedded default); the other checks still run.
func TestLoadBuiltinSkipsOnlyTheSignature(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, EngineConfig{PublicKeys: []ed25519.PublicKey{pub}})
	pkg := testPackage(t, "m", "1", 8)
	if err := e.Load(pkg); RejectReason(err) != ReasonSignature {
		t.Fatalf("Load of an unsigned package: %v, want a signature rejection", err)
	}
	if err := e.LoadBuiltin(pkg); err != nil {
		t.Fatalf("LoadBuiltin: %v", err)
	}
	if _, v, ok := e.Active(); !ok || v != "1" {
		t.Fatalf("active %v %v", v, ok)
	}
	bad := *pkg
	bad.ONNX = append([]byte(nil), pkg.ONNX...)
	bad.ONNX[len(bad.ONNX)/2] ^= 0xff
	var re *RejectError
	if err := e.LoadBuiltin(&bad); !errors.As(err, &re) || re.Reason != ReasonSHA256 {
		t.Fatalf("LoadBuiltin of a corrupted package: %v, want a sha256 rejection", err)
	}
}
