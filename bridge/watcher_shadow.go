package bridge

import (
	"context"
	"log/slog"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// Shadow states (ModelStatus.ShadowState).
const (
	ShadowPending       = "pending"        // named; waits for the served version to be active
	ShadowWaitingChunks = "waiting_chunks" // being received
	ShadowActive        = "active"         // handed to the Shadow hook
	ShadowRejected      = "rejected"       // a check or the hook failed (ShadowError)
	ShadowUnsupported   = "not_supported"  // no Shadow hook: not staged
)

// shadowState is the shadow version the served name's release names for
// this gateway. (mu)
type shadowState struct {
	version string         // named by the release ("" none)
	env     *ModelEnvelope // its envelope (archive, or from disk); nil until checked
	loaded  string         // version handed to the Shadow hook
	state   string
	lastErr string
	rewound bool // the topic was re-read for its chunks
}

// fillRelease reports the accepted release and the shadow in ms. Call
// with mu held.
func (st *modelState) fillRelease(ms *ModelStatus) {
	if r := st.release; r != nil {
		ms.ReleaseCounter, ms.ReleaseAction, ms.Rollout = r.Counter, r.Action, r.Rollout
	}
	ms.Shadow, ms.ShadowState, ms.ShadowError = st.shadow.version, st.shadow.state, st.shadow.lastErr
}

// wantShadow makes version ("" none) the shadow of name: a different
// shadow handed over before is cleared first (ClearShadow); the new one is
// checked (size, signature) now and staged by progressShadow once the
// served version is active. The same shadow again is left as it is, unless
// it was rejected (a new release tries it again).
func (w *ModelWatcher) wantShadow(name, version string) {
	w.mu.Lock()
	sh := &w.state(name).shadow
	same := version == sh.version && sh.state != ShadowRejected
	loaded := sh.loaded
	w.mu.Unlock()
	if same {
		return
	}
	if loaded != "" && loaded != version {
		w.unloadShadow(name)
	}
	if w.shadowStage != nil && w.shadowStage.env.Version != version {
		w.dropShadowStage()
	}
	w.setShadow(name, func(sh *shadowState) { *sh = shadowState{version: version, loaded: sh.loaded} })
	switch {
	case version == "":
	case loaded == version:
		w.setShadow(name, func(sh *shadowState) { sh.state = ShadowActive })
	case w.cfg.Shadow == nil:
		w.setShadow(name, func(sh *shadowState) { sh.state = ShadowUnsupported })
		w.log.Info("the release names a shadow model, but this gateway has no shadow scoring; ignored", "model", name, "shadow", version)
	default:
		w.checkShadow(name, version)
	}
}

// checkShadow finds the shadow's envelope and checks its size and
// signature before anything of it is staged.
func (w *ModelWatcher) checkShadow(name, version string) {
	env, err := w.versionEnvelope(name, version)
	reason := modelpkg.ReasonRelease
	if err == nil {
		reason, err = w.preVerify(env)
	}
	if err != nil {
		w.rejectShadow(name, version, reason, err)
		return
	}
	w.setShadow(name, func(sh *shadowState) { sh.env, sh.state = env, ShadowPending })
}

func (w *ModelWatcher) setShadow(name string, f func(*shadowState)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.state(name).shadow)
}

// unloadShadow calls ClearShadow for the shadow handed over.
func (w *ModelWatcher) unloadShadow(name string) {
	if w.cfg.ClearShadow != nil {
		w.cfg.ClearShadow()
	}
	w.setShadow(name, func(sh *shadowState) { sh.loaded = "" })
	w.log.Info("shadow model cleared", "model", name)
}

// dropShadowStage stops staging the shadow and removes what was staged.
func (w *ModelWatcher) dropShadowStage() {
	w.shadowStage = nil
	w.setStagedBytes(nil, true)
	w.cleanStaging()
}

// progressShadow moves the shadow on once the served version is active
// (the served version is always received first): from disk when stored,
// else from its staged chunks, re-reading the topic once for chunks read
// before. Run's goroutine.
func (w *ModelWatcher) progressShadow(cl offsetSetter, name string) {
	w.mu.Lock()
	st := w.state(name)
	sh := st.shadow
	servedActive := st.want != nil && st.want.Version == st.active
	w.mu.Unlock()
	env := sh.env
	if env == nil || !servedActive || sh.loaded == env.Version || sh.state == ShadowRejected {
		return
	}
	if w.store.Has(name, env.Version) && w.deployShadowStored(env) {
		return
	}
	if w.shadowStage == nil || !w.shadowStage.is(env) {
		w.shadowStage = w.newStaging(env, true)
		w.setShadow(name, func(sh *shadowState) { sh.state = ShadowWaitingChunks })
	}
	switch {
	case w.shadowStage.complete():
		w.deployShadowStaged(env)
	case !sh.rewound:
		w.setShadow(name, func(sh *shadowState) { sh.rewound = true })
		w.rewindFor(cl, env)
	}
}

// deployShadowStored hands a stored shadow package over. A stored copy
// that no longer loads or verifies is removed (false: receive it again).
func (w *ModelWatcher) deployShadowStored(env *ModelEnvelope) bool {
	pkg, err := w.loadStored(env.Name, env.Version)
	if err != nil {
		w.log.Warn("stored shadow model unusable; receiving it again", "model", env.ID(), "err", err)
		_ = w.store.Remove(env.Name, env.Version)
		return false
	}
	w.handOverShadow(env, pkg)
	return true
}

// deployShadowStaged reassembles and verifies the staged shadow, stores it
// and hands it over.
func (w *ModelWatcher) deployShadowStaged(env *ModelEnvelope) {
	pkg, reason, err := w.assemble(env)
	w.dropShadowStage()
	if err != nil {
		w.rejectShadow(env.Name, env.Version, reason, err)
		return
	}
	if err := w.store.Save(env.Name, env.Version, pkg); err != nil {
		w.rejectShadow(env.Name, env.Version, modelpkg.ReasonStore, err)
		return
	}
	if !w.handOverShadow(env, pkg) {
		_ = w.store.Remove(env.Name, env.Version)
	}
}

// handOverShadow gives a verified shadow package to the Shadow hook.
func (w *ModelWatcher) handOverShadow(env *ModelEnvelope, pkg *modelpkg.Package) bool {
	if err := w.cfg.Shadow(pkg); err != nil {
		w.rejectShadow(env.Name, env.Version, modelpkg.RejectReason(err), err)
		return false
	}
	w.setShadow(env.Name, func(sh *shadowState) { sh.loaded, sh.state, sh.lastErr = env.Version, ShadowActive, "" })
	w.log.Info("shadow model scoring beside the served one", "model", env.ID())
	return true
}

// rejectShadow records, counts, logs and events a rejection of the shadow
// version (model.rejected with shadow: true); the served model and any
// shadow still handed over are not affected.
func (w *ModelWatcher) rejectShadow(name, version, reason string, err error) {
	w.setShadow(name, func(sh *shadowState) {
		if sh.version == version {
			sh.state, sh.lastErr = ShadowRejected, reason+": "+err.Error()
		}
	})
	w.m.deploys.WithLabelValues(reason).Inc()
	w.log.Log(context.Background(), slog.LevelError, "shadow model rejected", "model", name, "version", version, "reason", reason, "err", err)
	w.event(EventModelRejected, &ModelEnvelope{Name: name, Version: version},
		map[string]any{"reason": reason, "error": err.Error(), "shadow": true})
}

// rejectShadowOnce rejects the shadow env unless it is rejected already.
func (w *ModelWatcher) rejectShadowOnce(env *ModelEnvelope, err error) {
	w.mu.Lock()
	sh := w.state(env.Name).shadow
	w.mu.Unlock()
	if sh.version != env.Version || sh.state == ShadowRejected {
		w.log.Debug("bad chunk of a shadow model not wanted", "model", env.ID(), "err", err)
		return
	}
	w.rejectShadow(env.Name, env.Version, modelpkg.ReasonChunkSHA256, err)
}
