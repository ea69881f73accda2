package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// ErrReleaseConflict is returned (wrapped; reason release) for a pointer
// whose release has the counter already accepted for its name but other
// bytes: two different decisions cannot share a counter.
var ErrReleaseConflict = errors.New("release counter already accepted with other contents")

// checkRelease verifies the release a pointer of the served name carries:
// signed by a configured key, for the pointer's name and version, with a
// counter not below the highest accepted (and the same bytes at the same
// counter). A higher counter is persisted before it is acted on. A pointer
// without a release passes only with allow_unsigned (nil release). It
// returns the reject reason with an error.
func (w *ModelWatcher) checkRelease(env *ModelEnvelope) (*Release, string, error) {
	if env.Schema < 2 || len(env.Release) == 0 && len(env.ReleaseSignature) == 0 {
		if w.cfg.Policy.AllowUnsigned {
			w.log.Warn("pointer without a signed release accepted (allow_unsigned is set; development only)", "model", env.ID())
			return nil, "", nil
		}
		return nil, modelpkg.ReasonRelease, fmt.Errorf("pointer %s: %w (publish it with a model-signing key)", env.ID(), ErrReleaseUnsigned)
	}
	rel, err := VerifyRelease(env.Release, env.ReleaseSignature, w.cfg.Policy.Keys)
	if err != nil {
		return nil, modelpkg.ReasonRelease, fmt.Errorf("pointer %s: %w", env.ID(), err)
	}
	if rel.Name != env.Name || rel.Version != env.Version {
		return nil, modelpkg.ReasonRelease, fmt.Errorf("pointer %s carries a release of %s:%s", env.ID(), rel.Name, rel.Version)
	}
	if reason, err := w.acceptCounter(env.Name, rel.Counter, env.Release); err != nil {
		return nil, reason, fmt.Errorf("pointer %s: %w", env.ID(), err)
	}
	return rel, "", nil
}

// acceptCounter compares a verified release's counter with the highest
// accepted for name (the store's DIR/NAME/.release) and persists it when
// higher (temp, fsync, rename).
func (w *ModelWatcher) acceptCounter(name string, counter uint64, body []byte) (string, error) {
	prev, prevDigest, err := w.store.Release(name)
	if err != nil {
		return modelpkg.ReasonRelease, fmt.Errorf("the highest release accepted: %w", err)
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	switch {
	case counter < prev:
		return modelpkg.ReasonRelease, fmt.Errorf("counter %d, %d was accepted before: %w", counter, prev, ErrReleaseReplayed)
	case counter == prev && digest != prevDigest:
		return modelpkg.ReasonRelease, fmt.Errorf("counter %d: %w", counter, ErrReleaseConflict)
	case counter == prev:
		return "", nil // the accepted release read again (a restart)
	}
	if err := w.store.SetRelease(name, counter, digest); err != nil {
		return modelpkg.ReasonStore, fmt.Errorf("store the accepted release counter: %w", err)
	}
	return "", nil
}

// served returns the envelope of the version this gateway serves under rel
// (env itself without a release, without a canary, or inside the canary;
// else the stable version's) and the shadow version it scores beside it.
func (w *ModelWatcher) served(env *ModelEnvelope, rel *Release) (*ModelEnvelope, string, error) {
	if rel == nil {
		return env, "", nil
	}
	version, shadow := rel.ServedBy(w.kcfg.GatewayID)
	if version == env.Version {
		return env, shadow, nil
	}
	stable, err := w.versionEnvelope(env.Name, version)
	if err != nil {
		return nil, "", fmt.Errorf("this gateway is outside the canary of %s and serves the stable version, but %w", env.ID(), err)
	}
	return stable, shadow, nil
}

// versionEnvelope returns the envelope of name:version other than the
// pointer's: its archive record read on the topic, else one made from the
// package stored here (deployed from disk, never staged).
func (w *ModelWatcher) versionEnvelope(name, version string) (*ModelEnvelope, error) {
	if env := w.rd.archive(name, version); env != nil {
		return env, nil
	}
	if w.store.Has(name, version) {
		if pkg, err := w.store.Load(name, version); err == nil {
			return storedEnvelope(name, version, pkg), nil
		}
	}
	return nil, fmt.Errorf("%s:%s is neither stored on this gateway nor archived on the models topic", name, version)
}

// storedEnvelope describes a stored package as an envelope without chunks.
func storedEnvelope(name, version string, pkg *modelpkg.Package) *ModelEnvelope {
	return &ModelEnvelope{Schema: 1, Name: name, Version: version, Manifest: pkg.Manifest, Signature: pkg.Signature,
		ONNXSHA256: modelpkg.SHA256Hex(pkg.ONNX), ONNXSize: int64(len(pkg.ONNX)), ChunkSHA256: []string{}}
}

// applyRelease acts on a decoded pointer of the served name: its release
// is checked first (a refused one leaves everything as it is), then the
// manifest's targeting, then the version it serves here is wanted and its
// shadow set.
func (w *ModelWatcher) applyRelease(name string, env *ModelEnvelope, targeted bool) {
	rel, reason, err := w.checkRelease(env)
	if err != nil {
		w.reject(name, env.Version, reason, err)
		return
	}
	w.mu.Lock()
	w.state(name).release = rel
	w.mu.Unlock()
	if !targeted {
		w.notTargeted(name, env)
		return
	}
	served, shadow, err := w.served(env, rel)
	if err != nil {
		w.reject(name, env.Version, modelpkg.ReasonRelease, err)
		return
	}
	w.want(served)
	w.wantShadow(name, shadow)
}
