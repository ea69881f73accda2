package bridge

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference"
)

// Appender is where events go (a *buffer.Queue).
type Appender interface {
	Append(ctx context.Context, recs []buffer.Record) error
}

// ModelWatcherConfig configures a ModelWatcher.
type ModelWatcherConfig struct {
	// Kafka: brokers, TLS, SASL, topic prefix and gateway id (targeting).
	Kafka Config
	// Dir stores accepted packages (required), e.g. /var/lib/edgepm/models.
	Dir string
	// PublicKeys verify package signatures; AllowUnsigned (DEVELOPMENT
	// ONLY) accepts packages without one.
	PublicKeys    []ed25519.PublicKey
	AllowUnsigned bool
	// Activate validates and activates a verified package (Engine.Load);
	// an error rejects it and the current model keeps serving. Required.
	Activate func(*inference.Package) error
	// Retire is called when a tombstone retires the model name (optional).
	Retire func(name string)
	// Events receives deploy status events (optional; nil = logs only).
	Events Appender
}

// ModelStatus is one model name as the watcher sees it.
type ModelStatus struct {
	Name      string `json:"name"`
	Active    string `json:"active,omitempty"`     // version serving (from here)
	Wanted    string `json:"wanted,omitempty"`     // version the topic points at
	State     string `json:"state"`                // active, waiting_chunks, rejected, retired, not_targeted
	LastError string `json:"last_error,omitempty"` // rejection reason
}

// ModelWatcher consumes the compacted models topic from the beginning,
// without a consumer group, and activates the newest package per model name
// that targets this gateway, after reassembling its chunks and verifying
// sha256 and signature. See docs/formats/model-delivery.md.
type ModelWatcher struct {
	cfg   ModelWatcherConfig
	kcfg  Config
	log   *slog.Logger
	store modelStore
	loads *prometheus.CounterVec

	mu     sync.Mutex
	models map[string]*modelState
}

type modelState struct {
	want     *ModelEnvelope
	active   string
	failed   string // version rejected; retried when new records for it arrive
	received string // version we emitted "received" for
	state    string
	lastErr  string
	lastWait time.Time
}

// NewModelWatcher checks cfg; it does not contact Kafka.
func NewModelWatcher(cfg ModelWatcherConfig, log *slog.Logger, reg prometheus.Registerer) (*ModelWatcher, error) {
	if cfg.Dir == "" || cfg.Activate == nil {
		return nil, fmt.Errorf("new model watcher: %w: Dir and Activate are required", ErrInvalidConfig)
	}
	if err := cfg.Kafka.Validate(); err != nil {
		return nil, fmt.Errorf("new model watcher: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("new model watcher: %w", err)
	}
	w := &ModelWatcher{
		cfg: cfg, kcfg: cfg.Kafka.WithDefaults(), log: discardIfNil(log).With("component", "models"),
		store: modelStore{dir: cfg.Dir}, models: map[string]*modelState{},
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgepm_bridge_model_deploys_total", Help: "Model packages handled, by result (activated or a reject reason).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(w.loads)
	}
	return w, nil
}

// Restore activates the packages stored by earlier runs, without Kafka, so
// a gateway restarted offline scores with its last good model at once.
func (w *ModelWatcher) Restore() error {
	names, err := w.store.names()
	if err != nil {
		return fmt.Errorf("restore models: %w", err)
	}
	var errs []error
	for _, name := range names {
		version, err := w.store.current(name)
		if err == nil {
			err = w.activateStored(name, version, nil)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("restore model %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func (w *ModelWatcher) activateStored(name, version string, env *ModelEnvelope) error {
	pkg, err := w.store.load(name, version)
	if err != nil {
		return err
	}
	if reason, err := w.verifySignature(pkg); err != nil {
		return fmt.Errorf("%s: %w", reason, err)
	}
	if err := w.cfg.Activate(pkg); err != nil {
		return err
	}
	w.mu.Lock()
	st := w.state(name)
	st.active, st.state, st.lastErr = version, "active", ""
	w.mu.Unlock()
	w.log.Info("model active", "model", name, "version", version, "source", "local")
	if env != nil {
		return w.store.setCurrent(name, version)
	}
	return nil
}

// Models returns the state of every model name seen.
func (w *ModelWatcher) Models() []ModelStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []ModelStatus
	for name, st := range w.models {
		ms := ModelStatus{Name: name, Active: st.active, State: st.state, LastError: st.lastErr}
		if st.want != nil {
			ms.Wanted = st.want.Version
		}
		out = append(out, ms)
	}
	slices.SortFunc(out, func(a, b ModelStatus) int { return cmpString(a.Name, b.Name) })
	return out
}

func (w *ModelWatcher) state(name string) *modelState {
	st := w.models[name]
	if st == nil {
		st = &modelState{}
		w.models[name] = st
	}
	return st
}

// Run consumes the models topic until ctx ends. Kafka being unreachable is
// not an error: the client keeps retrying. Returns nil when ctx ends.
func (w *ModelWatcher) Run(ctx context.Context) error {
	cl, err := newModelsClient(w.kcfg, w.log, true)
	if err != nil {
		return fmt.Errorf("model watcher: %w", err)
	}
	defer cl.Close()
	if err := w.store.clearStaging(); err != nil {
		return fmt.Errorf("model watcher: %w", err)
	}
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				w.log.Debug("models fetch", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(w.handle)
		w.assembleReady()
	}
	return nil
}

// Close is a no-op kept for symmetry: Run closes its client when it returns.
func (w *ModelWatcher) Close() error { return nil }

func (w *ModelWatcher) handle(r *kgo.Record) {
	k, ok := parseModelKey(string(r.Key))
	if !ok {
		return
	}
	switch k.kind {
	case kindChunk:
		w.handleChunk(k, r.Value)
	case kindPointer:
		w.handlePointer(k.name, r.Value)
	}
}

func (w *ModelWatcher) handleChunk(k modelKey, v []byte) {
	if v == nil {
		return
	}
	w.mu.Lock()
	st := w.state(k.name)
	skip := st.active == k.version
	if st.failed == k.version {
		st.failed = "" // a re-pushed chunk may fix it
	}
	w.mu.Unlock()
	if skip {
		return
	}
	if err := w.store.putChunk(k.name, k.version, k.chunk, v); err != nil {
		w.log.Error("stage model chunk", "model", k.name, "version", k.version, "chunk", k.chunk, "err", err)
	}
}

func (w *ModelWatcher) handlePointer(name string, v []byte) {
	if v == nil {
		w.retire(name)
		return
	}
	env, err := decodeEnvelope(v)
	if err != nil {
		w.reject(name, "?", "envelope", err)
		return
	}
	man, err := inference.DecodeManifest(env.Manifest)
	if err != nil {
		w.reject(name, env.Version, inference.ReasonManifest, err)
		return
	}
	w.mu.Lock()
	st := w.state(name)
	if !man.Targeting.Targets(w.kcfg.GatewayID) {
		st.want, st.state = nil, "not_targeted"
		w.mu.Unlock()
		w.log.Debug("model not targeted at this gateway", "model", env.ID(), "gateways", man.Targeting.Gateways)
		return
	}
	st.want = env
	if st.failed != env.Version {
		st.failed = ""
	}
	newVersion := env.Version != st.active && st.received != env.Version
	if newVersion {
		st.received, st.state = env.Version, "waiting_chunks"
	}
	w.mu.Unlock()
	if newVersion {
		w.event(EventModelReceived, env, nil)
	}
}

func (w *ModelWatcher) retire(name string) {
	w.mu.Lock()
	st := w.state(name)
	had := st.active != "" || st.want != nil
	st.want, st.active, st.state = nil, "", "retired"
	w.mu.Unlock()
	if !had {
		return
	}
	if err := w.store.retire(name); err != nil {
		w.log.Error("retire model", "model", name, "err", err)
	}
	if w.cfg.Retire != nil {
		w.cfg.Retire(name)
	}
	w.log.Info("model retired", "model", name)
	w.event(EventModelRetired, &ModelEnvelope{Name: name}, nil)
}

// assembleReady activates every wanted version whose chunks are all here
// (or which is stored locally, e.g. after a rollback).
func (w *ModelWatcher) assembleReady() {
	w.mu.Lock()
	var ready []*ModelEnvelope
	for _, st := range w.models {
		if st.want != nil && st.want.Version != st.active && st.failed != st.want.Version {
			ready = append(ready, st.want)
		}
	}
	w.mu.Unlock()
	for _, env := range ready {
		w.deploy(env)
	}
}

func (w *ModelWatcher) deploy(env *ModelEnvelope) {
	if _, err := os.Stat(w.store.versionDir(env.Name, env.Version)); err == nil {
		if err := w.activateStored(env.Name, env.Version, env); err != nil {
			w.reject(env.Name, env.Version, inference.RejectReason(err), err)
			return
		}
		w.activated(env)
		return
	}
	for i := 0; i < env.Chunks; i++ {
		if !w.store.hasChunk(env.Name, env.Version, i) {
			return // still arriving
		}
	}
	pkg, reason, err := w.assemble(env)
	if err != nil {
		w.reject(env.Name, env.Version, reason, err)
		w.store.dropStaging(env.Name, env.Version)
		return
	}
	w.event(EventModelVerified, env, nil)
	if err := w.store.save(env.Name, env.Version, pkg); err != nil {
		w.reject(env.Name, env.Version, "store", err)
		return
	}
	w.store.dropStaging(env.Name, env.Version)
	if err := w.cfg.Activate(pkg); err != nil {
		_ = os.RemoveAll(w.store.versionDir(env.Name, env.Version))
		w.reject(env.Name, env.Version, inference.RejectReason(err), err)
		return
	}
	if err := w.store.setCurrent(env.Name, env.Version); err != nil {
		w.log.Error("store current model", "model", env.ID(), "err", err)
	}
	w.store.prune(env.Name, env.Version, KeepVersions-1)
	w.mu.Lock()
	st := w.state(env.Name)
	st.active, st.state, st.lastErr = env.Version, "active", ""
	w.mu.Unlock()
	w.activated(env)
}

func (w *ModelWatcher) activated(env *ModelEnvelope) {
	w.loads.WithLabelValues("activated").Inc()
	if env.RolledBackFrom != "" {
		w.log.Info("model rolled back", "model", env.ID(), "from", env.RolledBackFrom)
		w.event(EventModelRollback, env, map[string]any{"from_version": env.RolledBackFrom})
		return
	}
	w.log.Info("model activated", "model", env.ID())
	w.event(EventModelActivated, env, nil)
}

// assemble concatenates the chunks and verifies every digest and the
// signature. It returns the reject reason with an error.
func (w *ModelWatcher) assemble(env *ModelEnvelope) (*inference.Package, string, error) {
	if env.ONNXSize > 4<<30 {
		return nil, "size", fmt.Errorf("model of %d bytes is too large", env.ONNXSize)
	}
	onnx := make([]byte, 0, env.ONNXSize)
	for i := 0; i < env.Chunks; i++ {
		c, err := w.store.chunk(env.Name, env.Version, i)
		if err != nil {
			return nil, "chunk_missing", err
		}
		s := sha256.Sum256(c)
		if hex.EncodeToString(s[:]) != env.ChunkSHA256[i] {
			return nil, "chunk_sha256", fmt.Errorf("chunk %d of %d does not match its sha256", i, env.Chunks)
		}
		onnx = append(onnx, c...)
	}
	pkg := &inference.Package{Manifest: env.Manifest, ONNX: onnx, Signature: env.Signature}
	man, err := pkg.Decode()
	if err != nil {
		return nil, inference.ReasonManifest, err
	}
	if man.Name != env.Name || man.Version != env.Version {
		return nil, inference.ReasonManifest, fmt.Errorf("manifest is %s, record says %s", man.ID(), env.ID())
	}
	sum := inference.SHA256Hex(onnx)
	if int64(len(onnx)) != env.ONNXSize || sum != man.ONNXSHA256 || sum != env.ONNXSHA256 {
		return nil, inference.ReasonSHA256, fmt.Errorf("onnx sha256 %s (%d bytes) does not match the manifest's %s", sum, len(onnx), man.ONNXSHA256)
	}
	if reason, err := w.verifySignature(pkg); err != nil {
		return nil, reason, err
	}
	return pkg, "", nil
}

func (w *ModelWatcher) verifySignature(pkg *inference.Package) (string, error) {
	_, err := inference.Verify(pkg, w.cfg.PublicKeys)
	if errors.Is(err, inference.ErrUnsigned) && w.cfg.AllowUnsigned {
		return "", nil
	}
	if err != nil {
		return inference.ReasonSignature, err
	}
	return "", nil
}

func (w *ModelWatcher) reject(name, version, reason string, err error) {
	w.mu.Lock()
	st := w.state(name)
	st.failed, st.state, st.lastErr = version, "rejected", reason+": "+err.Error()
	w.mu.Unlock()
	w.loads.WithLabelValues(reason).Inc()
	w.log.Error("model rejected", "model", name, "version", version, "reason", reason, "err", err)
	w.event(EventModelRejected, &ModelEnvelope{Name: name, Version: version}, map[string]any{"reason": reason, "error": err.Error()})
}

func (w *ModelWatcher) event(typ string, env *ModelEnvelope, extra map[string]any) {
	if w.cfg.Events == nil {
		return
	}
	f := map[string]any{"model": env.Name}
	if env.Version != "" {
		f["version"] = env.Version
	}
	for k, v := range extra {
		f[k] = v
	}
	if err := appendEvent(w.cfg.Events, w.kcfg.GatewayID, typ, f); err != nil {
		w.log.Warn("append model event", "type", typ, "err", err)
	}
}
