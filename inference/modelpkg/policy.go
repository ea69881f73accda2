package modelpkg

import (
	"crypto/ed25519"
	"fmt"
)

// Policy is the signature policy of a gateway: the keys a model package
// must be signed with, and whether an unsigned package is accepted instead
// (DEVELOPMENT ONLY). Build it once from the configuration
// (inference.public_keys, inference.allow_unsigned) and hand the same value
// to everything that accepts a package from outside the binary; the
// inference engine does not check signatures itself.
//
// The zero Policy accepts nothing. A Policy is immutable after it is built
// and safe for concurrent use.
type Policy struct {
	Keys          []ed25519.PublicKey
	AllowUnsigned bool
}

// Check applies the policy to pkg's manifest and signature (the signature
// covers the manifest, which holds the ONNX sha256, so a package that
// passes can only fail later on ONNX bytes that do not match it). pkg.ONNX
// is not read: a watcher checks the manifest before it stages any chunk.
//
// A package without a signature passes when AllowUnsigned is set; a
// package with a signature must verify with one of Keys whatever
// AllowUnsigned says. Otherwise Check returns a *RejectError with
// ReasonSignature wrapping ErrUnsigned or ErrBadSignature.
func (p Policy) Check(pkg *Package) error {
	if pkg == nil {
		return Reject("?", ReasonManifest, nil, "nil package")
	}
	if len(pkg.Signature) == 0 && p.AllowUnsigned {
		return nil
	}
	var err error
	if len(p.Keys) == 0 && len(pkg.Signature) != 0 {
		err = fmt.Errorf("%w: no public keys configured (inference.public_keys)", ErrBadSignature)
	} else {
		_, err = Verify(pkg, p.Keys)
	}
	if err != nil {
		return Reject(ManifestID(pkg.Manifest), ReasonSignature, err, "signature check failed")
	}
	return nil
}
