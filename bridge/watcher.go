package bridge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// defaultMaxStagingBytes is ModelWatcherConfig.MaxStagingBytes' default.
const defaultMaxStagingBytes = 1 << 30

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
	// Name is the model name this gateway serves. The inference engine
	// serves one model, so a gateway follows one name: pointers of other
	// names are tracked (state not_selected) but never staged or
	// activated. "" = the name on the topic whose pointer targeting this
	// gateway was written first (record time, then name), remembered in Dir
	// so every restart follows the same name; a non-empty Name replaces the
	// remembered one.
	Name string
	// MaxStagingBytes bounds the chunk bytes staged on disk. One version
	// is staged at a time, so this is also the largest model accepted: a
	// bigger one is rejected (reason "size") before any chunk is written.
	// 0 = 1 GiB.
	MaxStagingBytes int64
	// Policy is the gateway's signature policy (public keys,
	// allow_unsigned), applied to the manifest before anything is staged,
	// to the assembled package and to the stored package at Restore and on
	// a rollback. The zero Policy accepts nothing.
	Policy modelpkg.Policy
	// Activate validates and activates a package that passed Policy
	// (Engine.Load); an error rejects it and the current model keeps
	// serving. Required.
	Activate func(*modelpkg.Package) error
	// Shadow receives the shadow package the release of the served name
	// names for this gateway, once the served version is active, after the
	// same checks as a served package (size, signature, digests); an error
	// rejects it (the served model is not affected). ClearShadow is called
	// when the release no longer names that shadow, before another one is
	// handed over, and when the name is retired. Both optional: with
	// Shadow nil, shadows are not staged (state not_supported).
	Shadow      func(*modelpkg.Package) error
	ClearShadow func()
	// Retire is called when a tombstone retires the served model name
	// (optional). The engine keeps serving the retired model until the
	// hook replaces it (the edge loads its start-up model).
	Retire func(name string)
	// Events receives deploy status events (optional; nil = logs only).
	Events Appender
	// RetryBackoffMin and RetryBackoffMax bound the exponential, jittered
	// backoff between attempts to reach Kafka while it does not answer
	// (reset after an answer). Defaults 1s and 60s.
	RetryBackoffMin, RetryBackoffMax time.Duration
}

func (c *ModelWatcherConfig) validate() error {
	switch {
	case c.Dir == "" || c.Activate == nil:
		return fmt.Errorf("%w: Dir and Activate are required", ErrInvalidConfig)
	case c.Name != "" && !modelpkg.ValidName(c.Name):
		return fmt.Errorf("%w: ModelWatcherConfig.Name: %v", ErrInvalidConfig, modelpkg.ValidateName("model name", c.Name))
	case c.MaxStagingBytes < 0:
		return fmt.Errorf("%w: ModelWatcherConfig.MaxStagingBytes: must be >= 0, got %d", ErrInvalidConfig, c.MaxStagingBytes)
	case c.RetryBackoffMin < 0 || c.RetryBackoffMax < 0:
		return fmt.Errorf("%w: ModelWatcherConfig.RetryBackoffMin/Max: must be >= 0", ErrInvalidConfig)
	}
	return c.Kafka.Validate()
}

// Model states in ModelStatus.State.
const (
	ModelPending       = "pending"        // read while catching up with the topic; not decided yet
	ModelActive        = "active"         // Active serves (Wanted, if set, is the same version)
	ModelWaitingChunks = "waiting_chunks" // Wanted is being received
	ModelRejected      = "rejected"       // Wanted failed a check (LastError); Active keeps serving
	ModelRetired       = "retired"        // tombstoned; the engine serves it until the edge swaps its start-up model in
	ModelNotTargeted   = "not_targeted"   // the pointer's targeting does not select this gateway
	ModelNotSelected   = "not_selected"   // targets this gateway, but the gateway serves another name
)

// ModelStatus is one model name as the watcher sees it.
type ModelStatus struct {
	Name      string `json:"name"`
	Selected  bool   `json:"selected,omitempty"`   // the one name this gateway serves
	Active    string `json:"active,omitempty"`     // version serving (from here)
	Wanted    string `json:"wanted,omitempty"`     // version the topic points at
	State     string `json:"state"`                // one of the Model* states
	LastError string `json:"last_error,omitempty"` // rejection reason
	// Rejected is the version last rejected and RejectedAt when (nil when
	// none has been); a later activation does not clear them.
	Rejected   string     `json:"rejected,omitempty"`
	RejectedAt *time.Time `json:"rejected_at,omitempty"`
	// The release accepted for the served name (absent for a pointer
	// without one, accepted under allow_unsigned): its counter, action and
	// rollout id.
	ReleaseCounter uint64 `json:"release_counter,omitempty"`
	ReleaseAction  string `json:"release_action,omitempty"`
	Rollout        string `json:"rollout,omitempty"`
	// Shadow is the version the release has this gateway score in shadow,
	// ShadowState one of the Shadow* states, ShadowError why it was
	// rejected.
	Shadow      string `json:"shadow,omitempty"`
	ShadowState string `json:"shadow_state,omitempty"`
	ShadowError string `json:"shadow_error,omitempty"`
}

// ModelWatcher consumes the compacted models topic from the beginning,
// without a consumer group, and activates the version that the latest
// pointer of the one model name this gateway serves
// (ModelWatcherConfig.Name) gives this gateway, when the pointer's signed
// release verifies and is not older than one accepted before and its
// manifest targets this gateway, after reassembling its chunks and
// verifying sha256 and signature. The release's shadow goes to the Shadow
// hook once the served version is active. See
// docs/formats/model-delivery.md.
//
// Restore and Run must not run at the same time (call Restore first);
// Models is safe for concurrent use.
type ModelWatcher struct {
	cfg   ModelWatcherConfig
	kcfg  Config
	log   *slog.Logger
	store *modelpkg.Store
	m     watcherMetrics

	// Run's goroutine only.
	rd          reader
	stage       *staging // the served version being received
	shadowStage *staging // the shadow version being received
	reach       reach
	// Seams for tests: the clock of the outage log lines, and the wait
	// between attempts to reach Kafka (false: ctx ended).
	now   func() time.Time
	pause func(ctx context.Context, d time.Duration) bool
	// rejectLogged is the last rejection logged at error level (mu): the
	// same rejection again (a re-read, a pointer pushed again) is counted
	// and evented but logged at debug.
	rejectLogged string

	mu       sync.Mutex
	selected string                 // (mu) the name served; "" until chosen
	models   map[string]*modelState // (mu)
}

type modelState struct {
	ptr           pointer   // latest pointer record read (not a replay)
	applied       uint64    // ptr.seq last acted on
	firstTargeted time.Time // time of the earliest pointer read that targeted us (selection order)
	want          *ModelEnvelope
	active        string
	failed        string // version rejected; retried when a new pointer or all its chunks arrive
	received      string // version we emitted "received" for
	rewound       string // version the topic was re-read for
	state         string
	lastErr       string
	rejected      string    // version last rejected, kept after later activations
	rejectedAt    time.Time // when
	release       *Release  // the release accepted last (nil: none, or unsigned under allow_unsigned)
	shadow        shadowState
}

// NewModelWatcher checks cfg and resolves the served model name (Name, else
// the one remembered in Dir, else the stored model); it does not contact
// Kafka. reg nil registers no metrics.
func NewModelWatcher(cfg ModelWatcherConfig, log *slog.Logger, reg prometheus.Registerer) (*ModelWatcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new model watcher: %w", err)
	}
	if cfg.MaxStagingBytes == 0 {
		cfg.MaxStagingBytes = defaultMaxStagingBytes
	}
	if cfg.RetryBackoffMin == 0 {
		cfg.RetryBackoffMin = defaultWatcherBackoffMin
	}
	if cfg.RetryBackoffMax == 0 {
		cfg.RetryBackoffMax = defaultWatcherBackoffMax
	}
	cfg.RetryBackoffMax = max(cfg.RetryBackoffMax, cfg.RetryBackoffMin)
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("new model watcher: %w", err)
	}
	w := &ModelWatcher{
		cfg: cfg, kcfg: cfg.Kafka.WithDefaults(), log: discardIfNil(log).With("component", "models"),
		store: modelpkg.NewStore(cfg.Dir), models: map[string]*modelState{},
		m: newWatcherMetrics(reg), now: time.Now, pause: sleepCtx,
	}
	w.rd.init()
	if err := w.resolveSelection(); err != nil {
		return nil, fmt.Errorf("new model watcher: %w", err)
	}
	return w, nil
}

// resolveSelection picks the served name before Kafka is read: the
// configured one (remembered for later), else the remembered one, else the
// one stored model (the lowest name, with a warning, if several are).
func (w *ModelWatcher) resolveSelection() error {
	remembered, err := w.store.Selected()
	if err != nil {
		w.log.Warn("remembered model name unreadable; choosing again", "err", err)
	}
	name := w.cfg.Name
	switch {
	case name != "":
	case remembered != "":
		name = remembered
	default:
		names, err := w.store.Names() // sorted
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return nil
		}
		name = names[0]
		if len(names) > 1 {
			w.log.Warn("several stored models; serving the first by name (set the model name to choose)",
				"model", name, "stored", names)
		}
	}
	w.selected = name
	if name != remembered {
		return w.store.SetSelected(name)
	}
	return nil
}

// Restore activates the package the served name had accepted last, without
// Kafka, so a gateway restarted offline scores with its last good model at
// once. No stored package is not an error.
func (w *ModelWatcher) Restore() error {
	name := w.selectedName()
	if name == "" {
		return nil
	}
	version, err := w.store.Current(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = w.activateStored(name, version)
	}
	if err != nil {
		return fmt.Errorf("restore model %s: %w", name, err)
	}
	w.log.Info("model active", "model", name, "version", version, "source", "local")
	return nil
}

func (w *ModelWatcher) selectedName() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.selected
}

// Models returns the state of every model name seen, by name.
func (w *ModelWatcher) Models() []ModelStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ModelStatus, 0, len(w.models))
	for name, st := range w.models {
		ms := ModelStatus{Name: name, Selected: name == w.selected, Active: st.active, State: st.state, LastError: st.lastErr}
		if st.rejected != "" {
			at := st.rejectedAt
			ms.Rejected, ms.RejectedAt = st.rejected, &at
		}
		if ms.State == "" {
			ms.State = ModelPending
		}
		if name == w.selected && st.want != nil {
			ms.Wanted = st.want.Version
		} else if name != w.selected && st.ptr.targeted {
			ms.Wanted = st.ptr.env.Version
		}
		if name == w.selected {
			st.fillRelease(&ms)
		}
		out = append(out, ms)
	}
	slices.SortFunc(out, func(a, b ModelStatus) int { return cmpString(a.Name, b.Name) })
	return out
}

// state returns name's state, creating it. Call with mu held.
func (w *ModelWatcher) state(name string) *modelState {
	st := w.models[name]
	if st == nil {
		st = &modelState{}
		w.models[name] = st
	}
	return st
}

// catchUpIdle: while catching up, a poll that returns nothing for this long
// although the end offsets are known means there is nothing more to read
// (e.g. the last offsets were compacted away).
const catchUpIdle = 3 * time.Second

// Run consumes the models topic until ctx ends. Kafka being unreachable is
// not an error: Run retries with an exponential, jittered backoff
// (RetryBackoffMin to RetryBackoffMax, reset once Kafka answers; the
// client's own retries follow the same bounds) and logs one line when Kafka
// stops answering and one when it answers again. Nothing is staged or
// activated until the topic has been read up to the end offsets it had
// when Run started, so the latest pointer decides, not an older one read on
// the way. Returns nil when ctx ends.
func (w *ModelWatcher) Run(ctx context.Context) error {
	cl, err := newModelsClient(w.kcfg, w.log, true,
		kgo.RetryBackoffFn(w.kgoBackoff), kgo.RequestRetries(watcherRequestRetries))
	if err != nil {
		return fmt.Errorf("model watcher: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for ctx.Err() == nil {
		caught, err := w.caughtUp(ctx, adm, w.kcfg.Topic(DefaultModelsTopic))
		if err == nil {
			err = w.poll(ctx, cl, caught)
		}
		if err != nil && ctx.Err() == nil && !w.pause(ctx, w.failed(err)) {
			break
		}
	}
	return nil
}

// watcherRequestRetries bounds kgo's retries inside one request of the
// watcher, so that Run's backoff, not kgo's, paces the attempts.
const watcherRequestRetries = 2

// poll reads what the topic has (waiting at most catchUpIdle while
// catching up) and handles it; settle acts on it once caught up. It
// returns a fetch error other than the end of ctx or of the wait.
func (w *ModelWatcher) poll(ctx context.Context, cl *kgo.Client, caught bool) error {
	if caught {
		w.settle(cl)
	}
	pctx, cancel := ctx, context.CancelFunc(func() {})
	if !caught {
		pctx, cancel = context.WithTimeout(ctx, catchUpIdle)
	}
	fs := cl.PollFetches(pctx)
	cancel()
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && ferr == nil {
			ferr = fmt.Errorf("fetch %s partition %d: %w", t, p, err)
		}
	})
	n := 0
	fs.EachRecord(func(r *kgo.Record) { n++; w.handle(r) })
	if n > 0 {
		w.succeeded()
	}
	if !caught && n == 0 && ctx.Err() == nil {
		w.rd.idle()
	}
	return ferr
}

// Close is a no-op kept for symmetry: Run closes its client when it returns.
func (w *ModelWatcher) Close() error { return nil }
