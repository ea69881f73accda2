package bridge

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// ReleaseContext is prepended to the sha256 of the release bytes to form
// the message a release signature covers, so a release signature can never
// be replayed as a package signature or the other way round.
const ReleaseContext = "edgepm release v1\n"

// Release actions (Release.Action).
const (
	ActionPush     = "push"     // every targeted gateway serves Version
	ActionCanary   = "canary"   // gateways in Canary serve Version, the others Stable
	ActionPromote  = "promote"  // a canary's Version goes to every targeted gateway
	ActionAbort    = "abort"    // a canary is stopped: everyone serves Version (the old stable)
	ActionRollback = "rollback" // an explicit move back to an older Version
	ActionShadow   = "shadow"   // Version serves; Shadow is scored beside it
)

// Release errors a gateway branches on (wrapped; the reason is
// modelpkg.ReasonRelease on the model.rejected event).
var (
	ErrReleaseUnsigned = errors.New("pointer has no signed release")
	ErrReleaseBadSig   = errors.New("release signature does not verify with any configured key")
	ErrReleaseReplayed = errors.New("release counter is older than one already accepted")
)

// Selector picks gateways by id: exact ids or path.Match globs ("line3-*").
// The zero Selector selects no gateway.
type Selector struct {
	Gateways []string `json:"gateways,omitempty"`
	Globs    []string `json:"globs,omitempty"`
}

// Selects reports whether gateway id is in s.
func (s *Selector) Selects(id string) bool {
	if s == nil {
		return false
	}
	for _, g := range s.Gateways {
		if g == id {
			return true
		}
	}
	for _, g := range s.Globs {
		if ok, _ := path.Match(g, id); ok {
			return true
		}
	}
	return false
}

// Release is the signed decision a pointer carries: which version each
// gateway of a model name serves, and which challenger it scores in shadow.
// Its exact JSON bytes travel base64-encoded in the pointer envelope
// (ModelEnvelope.Release) with an ed25519 signature over
// ReleaseContext + sha256(bytes) (ModelEnvelope.ReleaseSignature), made with
// a model-signing key. See docs/formats/model-delivery.md.
type Release struct {
	Schema int    `json:"schema"` // 1
	Name   string `json:"name"`
	// Counter orders the releases of Name: a gateway refuses a release
	// whose counter is below the highest it has accepted (a replayed old
	// pointer), and one with the same counter but other bytes. Publishers
	// write the highest counter on the topic plus one.
	Counter uint64 `json:"counter"`
	Action  string `json:"action"`
	// Version is the version the pointer's envelope describes: served by
	// every targeted gateway, or only by those in Canary when it is set.
	Version string `json:"version"`
	// Stable is the version gateways outside Canary serve (required with
	// Canary; its archive record must be on the topic).
	Stable string    `json:"stable,omitempty"`
	Canary *Selector `json:"canary,omitempty"`
	// Shadow names a challenger version scored beside the served one on
	// the same windows, by the gateways in ShadowOn (nil = every gateway
	// serving Version). Its archive record must be on the topic.
	Shadow   string    `json:"shadow,omitempty"`
	ShadowOn *Selector `json:"shadow_on,omitempty"`
	// Rollout is the id of the rollout record this release belongs to ("" for a plain push).
	Rollout string    `json:"rollout,omitempty"`
	Issued  time.Time `json:"issued"`
	// Reason is free text for the audit trail (e.g. why a canary was aborted).
	Reason string `json:"reason,omitempty"`
}

// Validate checks the fields' consistency (not the signature).
func (r *Release) Validate() error {
	switch {
	case r.Schema != 1:
		return fmt.Errorf("release schema %d not supported", r.Schema)
	case !modelpkg.ValidName(r.Name) || !modelpkg.ValidName(r.Version):
		return fmt.Errorf("release: bad name %q or version %q", r.Name, r.Version)
	case r.Counter == 0:
		return fmt.Errorf("release %s:%s: counter must be >= 1", r.Name, r.Version)
	case r.Canary != nil && !modelpkg.ValidName(r.Stable):
		return fmt.Errorf("release %s:%s: a canary needs the stable version the other gateways serve", r.Name, r.Version)
	case r.Shadow != "" && !modelpkg.ValidName(r.Shadow):
		return fmt.Errorf("release %s:%s: bad shadow version %q", r.Name, r.Version, r.Shadow)
	case r.Shadow == r.Version && r.Shadow != "":
		return fmt.Errorf("release %s:%s: shadow is the served version", r.Name, r.Version)
	}
	switch r.Action {
	case ActionPush, ActionCanary, ActionPromote, ActionAbort, ActionRollback, ActionShadow:
	default:
		return fmt.Errorf("release %s:%s: unknown action %q", r.Name, r.Version, r.Action)
	}
	for _, s := range []*Selector{r.Canary, r.ShadowOn} {
		if s == nil {
			continue
		}
		for _, g := range s.Globs {
			if _, err := path.Match(g, ""); err != nil {
				return fmt.Errorf("release %s:%s: bad glob %q: %w", r.Name, r.Version, g, err)
			}
		}
	}
	return nil
}

// ServedBy returns the version gateway id serves under r, and the shadow
// version it scores beside it ("" for none).
func (r *Release) ServedBy(id string) (version, shadow string) {
	version = r.Version
	if r.Canary != nil && !r.Canary.Selects(id) {
		version = r.Stable
	}
	if r.Shadow != "" && version == r.Version && (r.ShadowOn == nil || r.ShadowOn.Selects(id)) {
		shadow = r.Shadow
	}
	return version, shadow
}

// ReleaseMessage is the byte string a release signature covers.
func ReleaseMessage(body []byte) []byte {
	d := sha256.Sum256(body)
	return append([]byte(ReleaseContext), d[:]...)
}

// SignRelease validates r, encodes it, and signs the bytes. It returns the
// bytes and the signature to put in ModelEnvelope.Release and
// ModelEnvelope.ReleaseSignature.
func SignRelease(r *Release, priv ed25519.PrivateKey) (body, sig []byte, err error) {
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, nil, fmt.Errorf("sign release: private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	body, err = json.Marshal(r)
	if err != nil {
		return nil, nil, fmt.Errorf("encode release: %w", err)
	}
	return body, ed25519.Sign(priv, ReleaseMessage(body)), nil
}

// VerifyRelease checks sig over body with keys and decodes the release
// strictly. It returns ErrReleaseUnsigned (no body or signature) or
// ErrReleaseBadSig (wrapped) before it decodes anything.
func VerifyRelease(body, sig []byte, keys []ed25519.PublicKey) (*Release, error) {
	if len(body) == 0 || len(sig) == 0 {
		return nil, ErrReleaseUnsigned
	}
	ok := false
	if len(sig) == ed25519.SignatureSize {
		msg := ReleaseMessage(body)
		for _, k := range keys {
			if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, sig) {
				ok = true
				break
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w (%d keys configured)", ErrReleaseBadSig, len(keys))
	}
	return DecodeRelease(body)
}

// DecodeRelease strictly decodes (unknown fields are errors) and validates
// release bytes. It does not check a signature; it never panics.
func DecodeRelease(body []byte) (*Release, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var r Release
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode release: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode release: trailing data after the JSON object")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}
