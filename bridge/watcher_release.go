package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/atomicfile"
)

// ErrReleaseConflict is returned (wrapped; reason release) for a pointer
// whose release has the counter already accepted for its name but other
// bytes: two different decisions cannot share a counter.
var ErrReleaseConflict = errors.New("release counter already accepted with other contents")

// releaseFile is DIR/NAME/release: "COUNTER SHA256\n", the highest release
// counter accepted for NAME and the sha256 of that release's bytes.
const releaseFile = "release"

// accepted is the highest release a gateway accepted for a name.
type accepted struct {
	counter uint64
	digest  string // hex sha256 of the release bytes
}

func (w *ModelWatcher) releasePath(name string) string {
	return filepath.Join(w.cfg.Dir, name, releaseFile)
}

// loadAccepted reads the highest release accepted for name (zero when
// none). name is valid (the served name), so it is one path element.
func (w *ModelWatcher) loadAccepted(name string) (accepted, error) {
	b, err := os.ReadFile(w.releasePath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return accepted{}, nil
	}
	if err != nil {
		return accepted{}, fmt.Errorf("read the accepted release counter: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 2 && len(f[1]) == sha256.Size*2 {
		if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
			return accepted{counter: n, digest: f[1]}, nil
		}
	}
	return accepted{}, fmt.Errorf("%s does not hold \"COUNTER SHA256\" (remove it to accept the next signed release)", w.releasePath(name))
}

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
// accepted for name and persists it when higher (temp, fsync, rename).
func (w *ModelWatcher) acceptCounter(name string, counter uint64, body []byte) (string, error) {
	prev, err := w.loadAccepted(name)
	if err != nil {
		return modelpkg.ReasonRelease, err
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	switch {
	case counter < prev.counter:
		return modelpkg.ReasonRelease, fmt.Errorf("counter %d, %d was accepted before: %w", counter, prev.counter, ErrReleaseReplayed)
	case counter == prev.counter && digest != prev.digest:
		return modelpkg.ReasonRelease, fmt.Errorf("counter %d: %w", counter, ErrReleaseConflict)
	case counter == prev.counter:
		return "", nil // the accepted release read again (a restart)
	}
	if err := atomicfile.WriteFile(w.releasePath(name), fmt.Appendf(nil, "%d %s\n", counter, digest), 0o644); err != nil {
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
