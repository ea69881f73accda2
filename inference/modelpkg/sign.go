package modelpkg

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// SignatureContext is prepended to the manifest digest to form the signed
// message, so a package signature cannot be replayed as any other signature.
const SignatureContext = "edgepm model package v1\n"

// ErrBadSignature is returned by Verify when no key verifies the signature.
var ErrBadSignature = errors.New("signature does not verify with any configured key")

// ErrUnsigned is returned by Verify for a package without a signature.
var ErrUnsigned = errors.New("model package is not signed")

// SignedMessage returns the canonical bytes a package signature covers:
// SignatureContext followed by the 32-byte sha256 of the exact manifest.json
// bytes. The manifest holds onnx_sha256, so the signature covers both files.
func SignedMessage(manifest []byte) []byte {
	d := sha256.Sum256(manifest)
	return append([]byte(SignatureContext), d[:]...)
}

// Sign sets pkg.Signature to the ed25519 signature of SignedMessage(pkg.Manifest).
func Sign(pkg *Package, priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("sign model package: private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	pkg.Signature = ed25519.Sign(priv, SignedMessage(pkg.Manifest))
	return nil
}

// Verify checks pkg.Signature against each key and returns the index of the
// key that verifies, or ErrUnsigned / ErrBadSignature.
func Verify(pkg *Package, pubkeys []ed25519.PublicKey) (int, error) {
	if len(pkg.Signature) == 0 {
		return -1, ErrUnsigned
	}
	if len(pkg.Signature) != ed25519.SignatureSize {
		return -1, fmt.Errorf("%w: signature has %d bytes, want %d", ErrBadSignature, len(pkg.Signature), ed25519.SignatureSize)
	}
	msg := SignedMessage(pkg.Manifest)
	for i, k := range pubkeys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, pkg.Signature) {
			return i, nil
		}
	}
	return -1, ErrBadSignature
}

// EncodeSignature returns the manifest.sig file contents: standard base64 of
// the 64-byte signature and a newline.
func EncodeSignature(sig []byte) []byte {
	return append([]byte(base64.StdEncoding.EncodeToString(sig)), '\n')
}

// DecodeSignature parses manifest.sig: base64 text (surrounding whitespace
// ignored) or the raw 64 bytes.
func DecodeSignature(b []byte) ([]byte, error) {
	if len(b) == ed25519.SignatureSize { // base64 text of 64 bytes is 88 characters long
		return append([]byte(nil), b...), nil
	}
	s, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("decode signature: %w", err)
	}
	if len(s) != ed25519.SignatureSize {
		return nil, fmt.Errorf("decode signature: %d bytes, want %d", len(s), ed25519.SignatureSize)
	}
	return s, nil
}

// KeyID names a public key in status and logs: the first 8 bytes of the
// sha256 of the key, in hex (16 characters). It identifies the key without
// printing it.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SignedBy returns the KeyID of the key of keys that pkg's signature
// verifies with, or "" when pkg is unsigned or none does.
func SignedBy(pkg *Package, keys []ed25519.PublicKey) string {
	i, err := Verify(pkg, keys)
	if err != nil {
		return ""
	}
	return KeyID(keys[i])
}

// ReadPrivateKey reads a private key file written by `edgepm keygen`:
// standard base64 of the 64-byte ed25519 private key (surrounding
// whitespace ignored). The error names the file, never the key.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	kb, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	priv, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(kb)))
	if err != nil || len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("key %s: not an edgepm keygen private key (base64 of %d bytes)", path, ed25519.PrivateKeySize)
	}
	return ed25519.PrivateKey(priv), nil
}
