package bridge

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// offsetSetter is the part of *kgo.Client a rewind needs.
type offsetSetter interface {
	SetOffsets(map[string]map[int32]kgo.EpochOffset)
}

// settle acts on what was read, once caught up with the topic: it chooses
// the served name if none is chosen, applies its latest pointer if it is
// new, and moves its wanted version on (rewind for chunks, deploy).
func (w *ModelWatcher) settle(cl offsetSetter) {
	name := w.chooseName()
	if name != "" {
		w.mu.Lock()
		st := w.state(name)
		p, fresh := st.ptr, st.ptr.seq != st.applied
		st.applied = st.ptr.seq
		w.mu.Unlock()
		if fresh {
			w.apply(name, p)
		}
	}
	if !w.rd.cleaned {
		w.rd.cleaned = true
		w.cleanStaging()
	}
	if name != "" {
		w.progress(cl, name)
	}
}

// chooseName returns the served name; when none is chosen yet, it is the
// name whose pointer targeting this gateway was written first (record
// time, then name: the same whatever order the partitions are read in; its
// latest pointer must still target us), and it is remembered on disk.
func (w *ModelWatcher) chooseName() string {
	w.mu.Lock()
	if w.selected != "" {
		defer w.mu.Unlock()
		return w.selected
	}
	var best string
	for name, st := range w.models {
		if st.ptr.targeted && (best == "" || earlier(st.firstTargeted, name, w.models[best].firstTargeted, best)) {
			best = name
		}
	}
	if best == "" {
		w.mu.Unlock()
		return ""
	}
	w.selected = best
	w.rd.keepArchivesOf(best)
	for name, st := range w.models {
		if name != best {
			w.markUnselected(name, st)
		}
	}
	w.mu.Unlock()
	w.log.Info("serving model name chosen: the first on the topic that targets this gateway (set the model name to choose)", "model", best)
	if err := w.store.SetSelected(best); err != nil {
		w.log.Error("remember the served model name", "model", best, "err", err)
	}
	return best
}

// apply acts on a new pointer of the served name.
func (w *ModelWatcher) apply(name string, p pointer) {
	switch {
	case p.tombstone():
		w.retire(name)
	case p.err != nil:
		version := "?"
		if p.env != nil {
			version = p.env.Version
		}
		w.reject(name, version, p.reason, p.err)
	default:
		w.applyRelease(name, p.env, p.targeted)
	}
}

// notTargeted handles a pointer of the served name whose manifest does not
// target this gateway: the current model (and shadow) keep serving.
func (w *ModelWatcher) notTargeted(name string, env *ModelEnvelope) {
	w.dropStage()
	w.mu.Lock()
	st := w.state(name)
	st.want, st.state, st.lastErr = nil, ModelNotTargeted, ""
	w.mu.Unlock()
	w.log.Info("model not targeted at this gateway; the current model keeps serving", "model", env.ID())
}

// want makes env the version to run: nothing to do when it is active;
// else it is checked (size, signature) before anything is staged, and
// staging starts unless the package is stored here already.
func (w *ModelWatcher) want(env *ModelEnvelope) {
	w.mu.Lock()
	st := w.state(env.Name)
	st.want, st.rewound, st.failed, st.lastErr = env, "", "", ""
	if env.Version == st.active {
		st.state = ModelActive
		w.mu.Unlock()
		w.dropStage()
		return
	}
	newVersion := st.received != env.Version
	st.received, st.state = env.Version, ModelWaitingChunks
	w.mu.Unlock()
	if newVersion {
		w.event(EventModelReceived, env, nil)
	}
	if reason, err := w.preVerify(env); err != nil {
		w.dropStage()
		w.reject(env.Name, env.Version, reason, err)
		return
	}
	if w.store.Has(env.Name, env.Version) {
		w.dropStage()
		return
	}
	if w.stage == nil || !w.stage.is(env) || !sameContent(w.stage.env, env) {
		w.startStage(env)
	}
	w.stage.env = env // the pointer's envelope (rolled_back_from, published)
	if bad := w.stage.bad; bad != nil && !w.stage.complete() {
		w.reject(env.Name, env.Version, modelpkg.ReasonChunkSHA256, bad) // seen while it streamed past
	}
}

// progress deploys the wanted version when it is stored or fully staged,
// else re-reads the topic once for its chunks read before it was wanted
// (also after a bad chunk rejected it: the good ones are kept so that the
// bad one pushed again completes it).
func (w *ModelWatcher) progress(cl offsetSetter, name string) {
	w.mu.Lock()
	st := w.state(name)
	env := st.want
	pending := env != nil && env.Version != st.active
	failed := pending && st.failed == env.Version
	rewound := pending && st.rewound == env.Version
	w.mu.Unlock()
	staging := pending && w.stage != nil && w.stage.is(env)
	switch {
	case !pending:
	case !failed && w.store.Has(env.Name, env.Version):
		w.deployStored(env)
	case !staging && !failed:
		w.startStage(env) // the stored copy went away
	case !staging: // rejected before staging (size, signature) or after (engine)
	case w.stage.complete() && !failed:
		w.deployStaged(env)
	case !w.stage.complete() && !rewound:
		w.rewind(cl, env)
	}
	w.progressShadow(cl, name)
}

func (w *ModelWatcher) rewind(cl offsetSetter, env *ModelEnvelope) {
	w.mu.Lock()
	w.state(env.Name).rewound = env.Version
	w.mu.Unlock()
	w.rewindFor(cl, env)
}

// rewindFor seeks back to the chunks of env read before it was staged.
func (w *ModelWatcher) rewindFor(cl offsetSetter, env *ModelEnvelope) {
	offs := w.rd.rewindTo(env.Name, env.Version)
	if len(offs) == 0 {
		return // none of its chunks was read yet: they are staged as they arrive
	}
	cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{w.kcfg.Topic(DefaultModelsTopic): offs})
	w.log.Info("re-reading the models topic for chunks read before the pointer", "model", env.ID(), "partitions", len(offs))
}

// retire handles a tombstone of the served name: the stored current
// pointer goes (versions stay for a rollback), the Retire hook swaps the
// engine's model, and model.retired is emitted when something was active.
// The state says retired once all that is done.
func (w *ModelWatcher) retire(name string) {
	w.wantShadow(name, "")
	w.dropStage()
	_, err := w.store.Current(name)
	w.mu.Lock()
	st := w.state(name)
	had := st.active != "" || st.want != nil || err == nil
	w.mu.Unlock()
	if had {
		if err := w.store.Retire(name); err != nil {
			w.log.Error("retire model", "model", name, "err", err)
		}
		if w.cfg.Retire != nil {
			w.cfg.Retire(name)
		}
		w.log.Info("model retired; the engine serves it until the start-up model is swapped in", "model", name)
		w.event(EventModelRetired, &ModelEnvelope{Name: name}, nil)
	}
	w.mu.Lock()
	st.want, st.active, st.state, st.lastErr, st.release = nil, "", ModelRetired, "", nil
	w.mu.Unlock()
}

func earlier(t1 time.Time, n1 string, t2 time.Time, n2 string) bool {
	if !t1.Equal(t2) {
		return t1.Before(t2)
	}
	return n1 < n2
}
