package rollout

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// Context is prepended to the sha256 of the record bytes to form the
// message a rollout signature covers; it differs from the release's and
// the package's, so no signature stands in for another.
const Context = "edgepm rollout v1\n"

// Value is the JSON value of a rollouts topic record: the exact record
// bytes and their ed25519 signature (both base64 in JSON).
type Value struct {
	Rollout   []byte `json:"rollout"`
	Signature []byte `json:"signature"`
}

// Message is the byte string a rollout signature covers.
func Message(body []byte) []byte {
	d := sha256.Sum256(body)
	return append([]byte(Context), d[:]...)
}

// Sign validates r, encodes it and returns the topic value (Value as JSON).
func Sign(r *Record, priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign rollout: private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if r.Gateways == nil {
		r.Gateways = []string{}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode rollout %s: %w", r.ID, err)
	}
	v, err := json.Marshal(Value{Rollout: body, Signature: ed25519.Sign(priv, Message(body))})
	if err != nil {
		return nil, fmt.Errorf("encode rollout %s: %w", r.ID, err)
	}
	return v, nil
}

// Verify checks the signature of a topic value with keys and decodes the
// record strictly. It returns ErrUnsigned or ErrBadSignature (wrapped)
// before it decodes the record; it never panics.
func Verify(value []byte, keys []ed25519.PublicKey) (*Record, error) {
	var v Value
	if err := strictDecode(value, &v); err != nil {
		return nil, fmt.Errorf("decode rollouts value: %w", err)
	}
	if len(v.Rollout) == 0 || len(v.Signature) == 0 {
		return nil, ErrUnsigned
	}
	if !verifies(v.Rollout, v.Signature, keys) {
		return nil, fmt.Errorf("%w (%d keys configured)", ErrBadSignature, len(keys))
	}
	return Decode(v.Rollout)
}

func verifies(body, sig []byte, keys []ed25519.PublicKey) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	msg := Message(body)
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, sig) {
			return true
		}
	}
	return false
}

// Decode strictly decodes (unknown fields are errors) and validates record
// bytes, without checking any signature.
func Decode(body []byte) (*Record, error) {
	var r Record
	if err := strictDecode(body, &r); err != nil {
		return nil, fmt.Errorf("decode rollout: %w", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}
