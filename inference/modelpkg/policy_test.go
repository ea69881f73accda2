package modelpkg

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// TestPolicyRejects: the one place a signature is judged. Forged, wrongly
// keyed, edited and unsigned packages are rejected with ReasonSignature;
// allow_unsigned admits only packages without a signature.
func TestPolicyRejects(t *testing.T) {
	pub, priv := testKey(1)
	pub2, otherPriv := testKey(2)
	signed := func(edit func(*Package)) *Package {
		p := testPackage(t, "cand", "2", 4)
		if err := Sign(p, priv); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(p)
		}
		return p
	}
	strict := Policy{Keys: []ed25519.PublicKey{pub2, pub}}
	dev := Policy{Keys: []ed25519.PublicKey{pub}, AllowUnsigned: true}
	cases := []struct {
		name   string
		policy Policy
		pkg    *Package
		want   error // nil: accepted
	}{
		{"signed, second key", strict, signed(nil), nil},
		{"signed, dev policy", dev, signed(nil), nil},
		{"no onnx read", strict, signed(func(p *Package) { p.ONNX = nil }), nil},
		{"bad signature", strict, signed(func(p *Package) { p.Signature[0] ^= 1 }), ErrBadSignature},
		{"short signature", strict, signed(func(p *Package) { p.Signature = p.Signature[:10] }), ErrBadSignature},
		{"wrong key", strict, func() *Package { p := signed(nil); _ = Sign(p, otherPriv); return p }(), nil},
		{"wrong key only", Policy{Keys: []ed25519.PublicKey{pub}}, func() *Package { p := signed(nil); _ = Sign(p, otherPriv); return p }(), ErrBadSignature},
		{"manifest edited after signing", strict, signed(func(p *Package) {
			p.Manifest = []byte(strings.Replace(string(p.Manifest), `"raise": 0.7`, `"raise": 0.9`, 1))
		}), ErrBadSignature},
		{"unsigned", strict, signed(func(p *Package) { p.Signature = nil }), ErrUnsigned},
		{"unsigned, dev policy", dev, signed(func(p *Package) { p.Signature = nil }), nil},
		{"forged, dev policy", dev, signed(func(p *Package) { p.Signature[5] ^= 1 }), ErrBadSignature},
		{"zero policy, signed", Policy{}, signed(nil), ErrBadSignature},
		{"zero policy, unsigned", Policy{}, signed(func(p *Package) { p.Signature = nil }), ErrUnsigned},
		{"no keys, dev policy, signed", Policy{AllowUnsigned: true}, signed(nil), ErrBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(tc.pkg)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var re *RejectError
			if !errors.As(err, &re) || re.Reason != ReasonSignature || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want a %s rejection wrapping %v", err, ReasonSignature, tc.want)
			}
			if re.Model != "cand:2" {
				t.Fatalf("rejection names model %q", re.Model)
			}
		})
	}
	if err := strict.Check(nil); RejectReason(err) != ReasonManifest {
		t.Fatalf("nil package: %v", err)
	}
}

// FuzzPolicyCheck: the policy never panics and never accepts bytes it was
// not given a valid signature for.
func FuzzPolicyCheck(f *testing.F) {
	pub, priv := testKey(3)
	good := &Package{Manifest: []byte(`{"name":"m","version":"1"}`)}
	if err := Sign(good, priv); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Manifest, good.Signature)
	f.Add([]byte(`{}`), []byte(nil))
	p := Policy{Keys: []ed25519.PublicKey{pub}}
	f.Fuzz(func(t *testing.T, manifest, sig []byte) {
		err := p.Check(&Package{Manifest: manifest, Signature: sig})
		if err == nil && !ed25519.Verify(pub, SignedMessage(manifest), sig) {
			t.Fatal("accepted a signature that does not verify")
		}
	})
}
