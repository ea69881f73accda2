package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// preVerify checks what can be checked before any chunk is staged: the
// declared size against MaxStagingBytes and the manifest's signature (the
// manifest carries the ONNX sha256, so a package that passes can only fail
// later on bytes that do not match it).
func (w *ModelWatcher) preVerify(env *ModelEnvelope) (string, error) {
	if env.ONNXSize > w.cfg.MaxStagingBytes {
		return modelpkg.ReasonSize, fmt.Errorf("model of %d bytes is larger than the staging limit (MaxStagingBytes) of %d", env.ONNXSize, w.cfg.MaxStagingBytes)
	}
	return w.checkSignature(&modelpkg.Package{Manifest: env.Manifest, Signature: env.Signature})
}

// checkSignature applies the gateway's signature policy (Policy.Check, the
// only place keys and allow_unsigned are judged) and returns the reject
// reason with the policy's own error.
func (w *ModelWatcher) checkSignature(pkg *modelpkg.Package) (string, error) {
	err := w.cfg.Policy.Check(pkg)
	var re *modelpkg.RejectError
	if errors.As(err, &re) && re.Err != nil {
		return re.Reason, re.Err
	}
	if err != nil {
		return modelpkg.RejectReason(err), err
	}
	return "", nil
}

// loadStored reads a stored package and checks its signature again (the
// store is on disk: what was accepted then must still verify now, with the
// keys configured now).
func (w *ModelWatcher) loadStored(name, version string) (*modelpkg.Package, error) {
	pkg, err := w.store.Load(name, version)
	if err != nil {
		return nil, err
	}
	if reason, err := w.checkSignature(pkg); err != nil {
		return nil, fmt.Errorf("%s: %w", reason, err)
	}
	return pkg, nil
}

// handOver gives a verified package to Activate, warning when it is
// unsigned (the policy let it pass: allow_unsigned).
func (w *ModelWatcher) handOver(pkg *modelpkg.Package) error {
	if len(pkg.Signature) == 0 {
		w.log.Warn("serving an unsigned model package (allow_unsigned is set; development only)")
	}
	return w.cfg.Activate(pkg)
}

// activateStored activates a stored package (Restore).
func (w *ModelWatcher) activateStored(name, version string) error {
	pkg, err := w.loadStored(name, version)
	if err != nil {
		return err
	}
	if err := w.handOver(pkg); err != nil {
		return err
	}
	w.mu.Lock()
	st := w.state(name)
	st.active, st.state, st.lastErr = version, ModelActive, ""
	w.mu.Unlock()
	return nil
}

// deployStored activates a wanted version stored here (a rollback, or a
// restart): no chunks needed. A stored copy that no longer loads or
// verifies is removed and the version is received again.
func (w *ModelWatcher) deployStored(env *ModelEnvelope) {
	pkg, err := w.loadStored(env.Name, env.Version)
	if err != nil {
		w.log.Warn("stored model unusable; receiving it again", "model", env.ID(), "err", err)
		_ = w.store.Remove(env.Name, env.Version)
		w.startStage(env)
		return
	}
	w.activate(env, pkg)
}

// deployStaged reassembles and verifies the staged chunks, stores the
// package and activates it.
func (w *ModelWatcher) deployStaged(env *ModelEnvelope) {
	pkg, reason, err := w.assemble(env)
	w.dropStage()
	if err != nil {
		w.reject(env.Name, env.Version, reason, err)
		return
	}
	w.event(EventModelVerified, env, nil)
	if err := w.store.Save(env.Name, env.Version, pkg); err != nil {
		w.reject(env.Name, env.Version, modelpkg.ReasonStore, err)
		return
	}
	if !w.activate(env, pkg) {
		_ = w.store.Remove(env.Name, env.Version)
	}
}

// activate hands pkg to the engine; on success it becomes the version
// restored at the next start.
func (w *ModelWatcher) activate(env *ModelEnvelope, pkg *modelpkg.Package) bool {
	if err := w.handOver(pkg); err != nil {
		w.reject(env.Name, env.Version, modelpkg.RejectReason(err), err)
		return false
	}
	if err := w.store.SetCurrent(env.Name, env.Version); err != nil {
		w.log.Error("store current model", "model", env.ID(), "err", err)
	}
	w.store.Prune(env.Name, env.Version, KeepVersions-1)
	w.mu.Lock()
	st := w.state(env.Name)
	st.active, st.state, st.lastErr = env.Version, ModelActive, ""
	if sh := &st.shadow; sh.loaded != "" {
		// The served model changed under the shadow: hand the shadow over
		// again (progressShadow, from disk) whatever the engine kept.
		sh.loaded, sh.state, sh.rewound = "", ShadowPending, false
	}
	w.mu.Unlock()
	w.m.deploys.WithLabelValues("activated").Inc()
	if env.RolledBackFrom != "" {
		w.log.Info("model rolled back", "model", env.ID(), "from", env.RolledBackFrom)
		w.event(EventModelRollback, env, map[string]any{"from_version": env.RolledBackFrom})
		return true
	}
	w.log.Info("model activated", "model", env.ID())
	w.event(EventModelActivated, env, nil)
	return true
}

// assemble concatenates the staged chunks and verifies every digest and the
// signature. It returns the reject reason with an error.
func (w *ModelWatcher) assemble(env *ModelEnvelope) (*modelpkg.Package, string, error) {
	onnx := make([]byte, 0, env.ONNXSize)
	for i := 0; i < env.Chunks; i++ {
		c, err := w.store.Chunk(env.Name, env.Version, i)
		if err != nil {
			return nil, modelpkg.ReasonChunkMissing, err
		}
		s := sha256.Sum256(c)
		if hex.EncodeToString(s[:]) != env.ChunkSHA256[i] {
			return nil, modelpkg.ReasonChunkSHA256, fmt.Errorf("chunk %d of %d does not match its sha256", i, env.Chunks)
		}
		onnx = append(onnx, c...)
	}
	pkg := &modelpkg.Package{Manifest: env.Manifest, ONNX: onnx, Signature: env.Signature}
	man, err := pkg.Decode()
	if err != nil {
		return nil, modelpkg.ReasonManifest, err
	}
	if man.Name != env.Name || man.Version != env.Version {
		return nil, modelpkg.ReasonManifest, fmt.Errorf("manifest is %s, record says %s", man.ID(), env.ID())
	}
	sum := modelpkg.SHA256Hex(onnx)
	if int64(len(onnx)) != env.ONNXSize || sum != man.ONNXSHA256 || sum != env.ONNXSHA256 {
		return nil, modelpkg.ReasonSHA256, fmt.Errorf("onnx sha256 %s (%d bytes) does not match the manifest's %s", sum, len(onnx), man.ONNXSHA256)
	}
	if reason, err := w.checkSignature(pkg); err != nil {
		return nil, reason, err
	}
	return pkg, "", nil
}

// reject records, counts and events a rejection of name/version. It is
// logged at error level once: the same rejection again (the pointer read
// again or pushed again) is logged at debug.
func (w *ModelWatcher) reject(name, version, reason string, err error) {
	key := name + "\x00" + version + "\x00" + reason + "\x00" + err.Error()
	w.mu.Lock()
	st := w.state(name)
	st.failed, st.state, st.lastErr = version, ModelRejected, reason+": "+err.Error()
	st.rejected, st.rejectedAt = version, time.Now()
	again := w.rejectLogged == key
	w.rejectLogged = key
	w.mu.Unlock()
	w.m.deploys.WithLabelValues(reason).Inc()
	lv := slog.LevelError
	if again {
		lv = slog.LevelDebug
	}
	w.log.Log(context.Background(), lv, "model rejected", "model", name, "version", version, "reason", reason, "err", err)
	w.event(EventModelRejected, &ModelEnvelope{Name: name, Version: version}, map[string]any{"reason": reason, "error": err.Error()})
}

func (w *ModelWatcher) event(typ string, env *ModelEnvelope, extra map[string]any) {
	if w.cfg.Events == nil {
		return
	}
	d := map[string]any{"model": env.Name}
	if env.Version != "" {
		d["version"] = env.Version
	}
	for k, v := range extra {
		d[k] = v
	}
	if err := appendEvent(w.cfg.Events, w.kcfg.GatewayID, typ, d); err != nil {
		w.log.Warn("append model event", "type", typ, "err", err)
	}
}
