package inference

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// The engine does not judge signatures (the caller's modelpkg.Policy does,
// once): a package the policy rejects as unsigned still loads, and every
// other check still runs on it.
func TestLoadChecksEverythingButTheSignature(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pkg := testPackage(t, "m", "1", 8)
	if err := (modelpkg.Policy{Keys: []ed25519.PublicKey{pub}}).Check(pkg); modelpkg.RejectReason(err) != modelpkg.ReasonSignature {
		t.Fatalf("policy check of an unsigned package: %v, want a signature rejection", err)
	}
	e := newTestEngine(t, EngineConfig{})
	if err := e.Load(pkg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, v, ok := e.Active(); !ok || v != "1" {
		t.Fatalf("active %v %v", v, ok)
	}
	bad := *pkg
	bad.ONNX = append([]byte(nil), pkg.ONNX...)
	bad.ONNX[len(bad.ONNX)/2] ^= 0xff
	var re *modelpkg.RejectError
	if err := e.Load(&bad); !errors.As(err, &re) || re.Reason != modelpkg.ReasonSHA256 {
		t.Fatalf("Load of a corrupted package: %v, want a sha256 rejection", err)
	}
}
