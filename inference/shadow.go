package inference

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// DefaultShadowQueue is the default of EngineConfig.ShadowQueue (rows).
const DefaultShadowQueue = 1024

// ShadowStats says how a shadow model compares with the served model on the
// windows both scored since the shadow was loaded (Engine.ShadowStats).
type ShadowStats struct {
	Name, Version string
	Since         time.Time // when LoadShadow loaded it (engine clock)
	// Windows is how many windows both models scored.
	Windows uint64
	// Dropped is how many of the served model's windows the shadow did not
	// score: its queue was full, or the served model reads another input
	// (a served model loaded after the shadow).
	Dropped uint64
	// Errors is how many windows the shadow failed to score (an ONNX
	// Runtime error or a non-finite output). They change nothing served.
	Errors uint64
	// AlertAgreement is the share of Windows on which both models made the
	// same alert decision, each by its own raise threshold and alert
	// direction (a score at/over raise alerts; at/under for remaining life):
	// 0..1, meaningful when Windows > 0.
	AlertAgreement float64
	// MeanAbsDiff is the mean of |served score - shadow score| over Windows
	// (meaningful when Windows > 0).
	MeanAbsDiff float64
}

// LoadShadow validates pkg like Load (manifest, digest, targeting, graph,
// shapes, warm-up, samples) and makes it the shadow model: it scores the
// same windows as the served model, on its own goroutine and ONNX Runtime
// session, and its predictions go to EngineConfig.OnShadow. It never delays
// or changes the served model's scoring: Run copies each scored batch's
// feature vectors into a bounded inbox (EngineConfig.ShadowQueue rows) and
// drops them, counted, when it is full; it never waits for the shadow.
//
// The shadow must read the served model's input: the same input kind,
// window, sensors and features (in order), or LoadShadow returns a
// *modelpkg.RejectError with reason modelpkg.ReasonShadowInput naming both
// models (also when no model is served). Training statistics may differ:
// a window input is renormalised to the shadow's; a features input is
// scored as the served model computed it (a feature without samples holds
// the served model's training mean).
//
// A shadow already loaded is replaced (its queued work is dropped, counted
// with reason "cleared"); a rejected package leaves it in place. The shadow
// raises no alerts and changes no device state. Safe for concurrent use;
// serialised with Load.
func (e *Engine) LoadShadow(pkg *modelpkg.Package) error {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	if e.closed.Load() {
		return ErrClosed
	}
	m, err := e.prepare(pkg)
	if err != nil {
		e.log.Error("shadow model rejected", "err", err)
		return err
	}
	served := e.cur.Load()
	if rerr := shadowFits(served, m); rerr != nil {
		m.free()
		e.log.Error("shadow model rejected", "err", rerr)
		return rerr
	}
	s := newShadowSlot(m, e.cfg.ShadowQueue, e.cfg.Now())
	e.shadowWG.Add(1)
	go func() {
		defer e.shadowWG.Done()
		e.shadowLoop(s)
	}()
	if old := e.shadow.Swap(s); old != nil {
		e.stopShadow(old)
	}
	e.met.shadowInfo.WithLabelValues(m.man.Name, m.man.Version).Set(1)
	e.log.Info("shadow model active", "model", m.id, "served", served.id)
	return nil
}

// ClearShadow stops scoring the shadow model, if one is loaded, and
// destroys its session. Work still queued for it is dropped (counted,
// reason "cleared"). It waits for the shadow's current batch (at most one
// ONNX Runtime run of MaxBatch rows and its OnShadow call). Safe for
// concurrent use; serialised with Load and LoadShadow.
func (e *Engine) ClearShadow() {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	if old := e.shadow.Swap(nil); old != nil {
		e.stopShadow(old)
		e.log.Info("shadow model cleared", "model", old.m.id)
	}
}

// ShadowStats returns how the shadow model compares with the served model
// since it was loaded, or nil when no shadow is loaded. Safe for
// concurrent use.
func (e *Engine) ShadowStats() *ShadowStats {
	s := e.shadow.Load()
	if s == nil {
		return nil
	}
	return s.stats()
}

// shadowSlot is a loaded shadow model, its inbox and its comparison. Run
// appends copies of the served rows to inbox (toShadow) under mu, up to
// limit rows; the slot's goroutine (shadowLoop) swaps the inbox for its
// empty job under mu and scores it. When it finds the inbox empty it marks
// itself idle and waits on wake; Run sends on wake only when it finds it
// idle, so a busy shadow costs Run a lock and a copy per batch, no wake-up.
type shadowSlot struct {
	m     *model // its scorer is used by the slot's goroutine only
	since time.Time
	limit int           // rows the inbox holds (EngineConfig.ShadowQueue)
	wake  chan struct{} // capacity 1
	stop  chan struct{} // closed by stopShadow
	done  chan struct{} // closed when shadowLoop returns

	mu      sync.Mutex
	inbox   *shadowJob // filled by Run; guarded by mu
	idle    bool       // the goroutine waits on wake; guarded by mu
	stopped bool       // stopShadow ran: Run drops; guarded by mu

	dropped atomic.Uint64 // windows not taken (Run) or not scored (cleared)
	errors  atomic.Uint64

	cmpMu   sync.Mutex // guards the comparison sums
	windows uint64
	agreed  uint64
	absDiff float64

	// The goroutine's own:
	work   *shadowJob // the job being scored
	batch  Batch      // handed to OnShadow, reused
	errLog rateLog
}

func newShadowSlot(m *model, limit int, now time.Time) *shadowSlot {
	return &shadowSlot{m: m, since: now, limit: limit, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{}), inbox: newShadowJob(limit, m.sc.f), work: newShadowJob(limit, m.sc.f)}
}

// stats returns a snapshot of the slot's comparison.
func (s *shadowSlot) stats() *ShadowStats {
	st := &ShadowStats{Name: s.m.man.Name, Version: s.m.man.Version, Since: s.since,
		Dropped: s.dropped.Load(), Errors: s.errors.Load()}
	s.cmpMu.Lock()
	defer s.cmpMu.Unlock()
	st.Windows = s.windows
	if s.windows > 0 {
		st.AlertAgreement = float64(s.agreed) / float64(s.windows)
		st.MeanAbsDiff = s.absDiff / float64(s.windows)
	}
	return st
}

// stopShadow stops s's goroutine, counts the work it leaves and frees its
// model. The caller has removed s from e.shadow and holds loadMu.
func (e *Engine) stopShadow(s *shadowSlot) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	s.stopped = true
	left := len(s.inbox.rows)
	s.inbox.reset()
	s.mu.Unlock()
	s.drop(e, shadowCleared, left)
	s.m.free()
	e.met.shadowInfo.DeleteLabelValues(s.m.man.Name, s.m.man.Version)
}

// Reasons shadow work is dropped (edgepm_inference_shadow_dropped_total).
const (
	shadowQueueFull     = "queue_full"     // the shadow is behind: its inbox is full
	shadowInputMismatch = "input_mismatch" // the served model reads another input than the shadow
	shadowCleared       = "cleared"        // queued when the shadow was cleared or replaced
)

// drop counts n windows the shadow will not score.
func (s *shadowSlot) drop(e *Engine, reason string, n int) {
	s.dropped.Add(uint64(n))
	e.met.shadowDrops[reason].Add(float64(n))
}
