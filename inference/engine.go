package inference

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// Engine turns readings into predictions and alerts: per-device windows ->
// features -> micro-batches -> ONNX Runtime -> predictions -> alerts.
// See the package documentation for guarantees and concurrency.
type Engine struct {
	cfg EngineConfig
	log *slog.Logger
	met *metrics

	cur    atomic.Pointer[model]
	loadMu sync.Mutex // serialises Load

	devMu     sync.RWMutex
	devices   map[string]*device
	lru       []lruEntry // eviction order snapshot (devices.go); guarded by devMu
	freeSlots []int32    // device slots of evicted devices; guarded by devMu

	thresholds atomic.Pointer[Thresholds] // SetThresholds override; nil = the manifest's

	driftMu     sync.Mutex // orders drift gauge updates against swaps
	driftLabels []string   // feature label values currently set; guarded by driftMu

	newTicker  func(time.Duration) ticker // time.NewTicker; replaced in tests
	badOutLog  rateLog                    // non-finite output logging; Run's goroutine
	batch      Batch                      // handed to emit, reused; Run's goroutine
	outBuf     []float32                  // the batch's outputs, reused; Run's goroutine
	spent      []spentRun                 // rows to finish after emit; Run's goroutine
	fast       *inPlace                   // the fast path; nil: the reference path (EngineConfig.Scoring); Run's goroutine
	clockLogAt atomic.Int64               // UnixNano of the last clock-reset log line

	rows    chan row
	sendMu  sync.RWMutex // held shared while Observe sends, exclusively by Close
	closed  atomic.Bool
	done    chan struct{}
	running sync.Mutex // held by the active Run
	stateMu sync.Mutex // orders Run's start against Close
	runWG   sync.WaitGroup
	once    sync.Once

	freed     atomic.Int64 // sessions destroyed (tests, metrics)
	realClock bool         // cfg.Now is time.Now: latency can use the monotonic clock alone

	// Run's goroutine only:
	batchN    uint64     // batches scored (latency sampling: score)
	rule      cachedRule // the alert rule of the last batch's model and override
	shadowFit shadowFit  // how the last batch's model feeds the shadow

	shadow    atomic.Pointer[shadowSlot]            // the shadow model (shadow.go); nil: none
	shadowWG  sync.WaitGroup                        // shadow goroutines
	shadowRun func(*scorer, int) ([]float32, error) // replaces scorer.run for the shadow (tests); nil: scorer.run
}

// NewEngine returns an engine with no model; Load one before readings are
// scored. log nil discards logs; reg nil does not register metrics.
func NewEngine(cfg EngineConfig, log *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	realClock := cfg.Now == nil
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new inference engine: %w", err)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Engine{
		cfg:       cfg,
		log:       log,
		devices:   make(map[string]*device),
		rows:      make(chan row, cfg.QueueSize),
		realClock: realClock,
		done:      make(chan struct{}),
		newTicker: realTicker,
	}
	met, err := newMetrics(reg, func() float64 { return float64(len(e.rows)) },
		func() float64 { return float64(e.deviceCount()) })
	if err != nil {
		return nil, err
	}
	e.met = met
	if cfg.Scoring == ScoringFast {
		e.fast = &inPlace{log: log}
	}
	return e, nil
}

// Load validates pkg, warms it up and atomically makes it the active model.
//
// Load does not judge the package's signature: the caller applies the
// gateway's modelpkg.Policy first (the bridge's model watcher for packages
// from Kafka and the model store, edge's start-up loader for
// inference.model_dir; the model embedded in the binary is trusted), so
// the keys and allow_unsigned are applied in one place only.
//
// Checks, in order: manifest decodes and validates
// (including the feature spec); sha256 of the ONNX bytes; targeting; the
// graph loads; input name, type and shape
// [N, len(features)]; output name, type and shape [N, K]; a warm-up run of
// MaxBatch rows; the manifest's samples within tolerance. On failure the
// current model keeps serving and a *modelpkg.RejectError says why. Rows already
// queued finish on the model they were computed for; the replaced model's
// session is destroyed when its last row is scored. Safe for concurrent
// use; calls are serialised.
func (e *Engine) Load(pkg *modelpkg.Package) error {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	if e.closed.Load() {
		return ErrClosed
	}
	m, err := e.prepare(pkg)
	if err != nil {
		e.met.loads.WithLabelValues(modelpkg.RejectReason(err)).Inc()
		e.log.Error("model rejected", "err", err)
		return err
	}
	m.onFree = func() { e.freed.Add(1); e.met.freed.Inc() }
	old := e.cur.Swap(m)
	e.met.loads.WithLabelValues("ok").Inc()
	e.met.modelInfo.WithLabelValues(m.man.Name, m.man.Version).Set(1)
	if old != nil {
		if old.id != m.id {
			e.met.modelInfo.DeleteLabelValues(old.man.Name, old.man.Version)
		}
		old.retire()
		e.clearDriftGauges()
	}
	e.log.Info("model active", "model", m.id, "features", len(m.man.Features))
	if s := e.shadow.Load(); s != nil && inputDiff(m.man, s.m.man) != "" {
		e.log.Warn("the shadow model does not read the new model's input: it scores nothing until it is replaced or cleared",
			"model", m.id, "shadow", s.m.id, "difference", inputDiff(m.man, s.m.man))
	}
	if t := e.thresholds.Load(); t != nil {
		if err := t.Validate(m.man.OutputSemantics); err != nil {
			e.log.Warn("threshold override does not fit the new model; using its manifest thresholds",
				"model", m.id, "err", err)
		}
	}
	return nil
}

// Active returns the active model's name and version.
func (e *Engine) Active() (name, version string, ok bool) {
	m := e.cur.Load()
	if m == nil {
		return "", "", false
	}
	return m.man.Name, m.man.Version, true
}

// Close stops the engine: Observe and Load return ErrClosed, a running Run
// scores the rows already queued, emits them and returns, and then the
// active model's session is destroyed. Idempotent; safe for concurrent use.
func (e *Engine) Close() error {
	e.once.Do(func() {
		e.stateMu.Lock()
		e.closed.Store(true)
		close(e.done)
		e.stateMu.Unlock()
		e.runWG.Wait()
		e.sendMu.Lock()
		defer e.sendMu.Unlock()
		e.releaseQueued()
		e.ClearShadow()
		e.shadowWG.Wait()
		e.loadMu.Lock()
		if m := e.cur.Swap(nil); m != nil {
			m.retire()
			e.met.modelInfo.DeleteLabelValues(m.man.Name, m.man.Version)
		}
		e.loadMu.Unlock()
		e.clearDriftGauges()
	})
	return nil
}

// releaseQueued drops rows nobody will score (after Run ended for good).
func (e *Engine) releaseQueued() {
	for {
		select {
		case r := <-e.rows:
			r.drop()
			e.met.dropped.WithLabelValues("closed").Inc()
		default:
			return
		}
	}
}
