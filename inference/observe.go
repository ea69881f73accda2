package inference

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepm/edgepm/inference/features"
)

// device is the per-device state. win, winModel and evicted are
// guarded by mu (Observe); alert is touched only by Run's goroutine; seen
// is the engine clock (UnixNano) of its last Observe (devices.go); name and
// fields never change. Its size is what every tracked device costs beyond
// its window: keep scratch out of it (see rowScratch).
type device struct {
	name     string
	fields   map[string]string // Reading.Fields of the reading that created it; read-only
	slot     int32             // in [0, MaxDevices): unique among tracked devices, reused after eviction
	seen     atomic.Int64
	mu       sync.Mutex
	evicted  bool // removed from Engine.devices; Observe looks the name up again
	win      *features.Window
	winModel *model
	alert    alertState
	farBack  int // (mu) consecutive readings older than the window by more than ClockResetAfter
}

// row is one feature vector waiting to be scored. It holds a reference on
// the model whose feature plan produced it.
type row struct {
	// The fields Run reads for every row (Engine.group, inPlace.input)
	// come first, in one cache line.
	m    *model
	slab *featSlab // see featArena
	idx  int32

	dev   *device
	end   time.Time
	ready time.Time
	feat  []float32 // in slab at idx (m.feats), or its own memory when slab is nil
	hash  string

	queued bool // Engine.offer queued it
}

// drop finishes a row that will not be scored: its vector's slab row and
// its model reference.
func (r *row) drop() {
	if r.slab != nil {
		r.m.feats.release(r.slab, 1)
	}
	r.m.release(1)
}

// Observe adds a reading to its device's window and, when a feature row is
// due, computes it and queues it for Run. It blocks only when the queue is
// full (backpressure), until there is room, ctx ends (ctx.Err()) or the engine
// closes (ErrClosed). Readings that cannot be used (no model loaded, out of
// order, no valid values for the model's sensors, device class not targeted)
// are dropped, counted in edgepm_inference_readings_dropped_total and return
// nil. A reading from a new device at EngineConfig.MaxDevices evicts the
// least recently seen device (see EngineConfig.MaxDevices). Safe for
// concurrent use; readings of one device must be passed in time order from
// one goroutine to be windowed in that order.
func (e *Engine) Observe(ctx context.Context, r Reading) error {
	e.sendMu.RLock()
	defer e.sendMu.RUnlock()
	if e.closed.Load() {
		return ErrClosed
	}
	e.met.readings.Inc()
	m := e.acquire()
	if m == nil {
		e.met.dropped.WithLabelValues("no_model").Inc()
		return nil
	}
	if !m.man.Targeting.TargetsClass(r.Class) {
		m.release(1)
		e.met.dropped.WithLabelValues("class_not_targeted").Inc()
		return nil
	}
	now := e.cfg.Now()
	rw, ok, evicted := e.window(m, e.deviceFor(&r, now.UnixNano()), r, now)
	for try := 0; evicted && try < 3; try++ { // lost a race with eviction: use the device's new state
		rw, ok, evicted = e.window(m, e.deviceFor(&r, now.UnixNano()), r, now)
	}
	if evicted { // evicted again and again: more new devices at once than MaxDevices
		e.met.dropped.WithLabelValues("device_evicted").Inc()
	}
	if !ok {
		m.release(1)
		return nil
	}
	if rw.queued {
		return nil
	}
	e.met.queueWaits.Inc()
	select { // the queue is full: wait for room
	case e.rows <- rw:
		return nil
	case <-ctx.Done():
		rw.drop()
		return ctx.Err()
	case <-e.done:
		rw.drop()
		return ErrClosed
	}
}

// acquire returns the active model with a reference taken, or nil.
func (e *Engine) acquire() *model {
	for {
		m := e.cur.Load()
		if m == nil || m.acquire() {
			return m
		}
	}
}

// window pushes r into d's window (rebuilt for m if needed) and computes
// the row when one is due; now is when the reading arrived (the row's ready
// time). evicted reports that d was evicted meanwhile and nothing was done.
func (e *Engine) window(m *model, d *device, r Reading, now time.Time) (_ row, ok, evicted bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.evicted {
		return row{}, false, true
	}
	if d.winModel != m {
		if err := e.fitWindow(m, d); err != nil {
			e.log.Error("window for model", "model", m.id, "err", err)
			return row{}, false, false
		}
	}
	res, err := d.win.Push(r.Time, r.Values, r.Waveforms)
	switch {
	case err == nil:
		d.farBack = 0
	case errors.Is(err, features.ErrOutOfOrder) && e.cfg.ClockResetAfter >= 0 && d.win.End().Sub(r.Time) > e.cfg.ClockResetAfter:
		res, err = e.clockReset(m, d, r, now, res, err)
	}
	if res.Invalid > 0 {
		e.met.invalid.Add(float64(res.Invalid))
	}
	switch {
	case errors.Is(err, features.ErrOutOfOrder):
		e.met.dropped.WithLabelValues("out_of_order").Inc()
		return row{}, false, false
	case errors.Is(err, features.ErrNoValues):
		e.met.dropped.WithLabelValues("no_values").Inc()
		return row{}, false, false
	case err != nil || !res.Ready:
		return row{}, false, false
	}
	rw := row{m: m, dev: d, end: d.win.End()}
	sc := getRowScratch(m.plan.Len())
	defer rowScratchPool.Put(sc)
	if n := m.plan.Compute(d.win, sc.feat); n > 0 {
		e.met.imputed.Add(float64(n))
	}
	rw.hash = featureHash(sc.feat, sc.hash)
	m.drift.add(d.slot, sc.feat)
	rw.ready = now
	rw.queued = e.offer(&rw, sc.feat)
	return rw, true, false
}

// rowScratch is the memory window uses to compute a row (the vector is
// copied into the model's feature slab by offer), pooled rather than kept
// per device.
type rowScratch struct {
	feat []float32
	hash []byte
}

var rowScratchPool = sync.Pool{New: func() any { return new(rowScratch) }}

// getRowScratch returns a pooled scratch for f features.
func getRowScratch(f int) *rowScratch {
	sc := rowScratchPool.Get().(*rowScratch)
	if cap(sc.feat) < f {
		sc.feat, sc.hash = make([]float32, f), make([]byte, 0, 4*f)
	}
	sc.feat = sc.feat[:f]
	return sc
}

// offer puts feat into the next row of rw.m's current feature slab and
// queues rw for Run if the queue has room, under the arena's lock, so that
// the rows of a slab usually reach the queue in row order (what lets the
// fast path read a batch in place; see inPlace). It reports whether rw was
// queued; if not, the caller waits for room (rows taken after rw may then
// be queued before it, and the fast path copies that batch).
func (e *Engine) offer(rw *row, feat []float32) (queued bool) {
	a := &rw.m.feats
	a.mu.Lock()
	rw.feat, rw.slab, rw.idx = a.takeLocked()
	copy(rw.feat, feat)
	select {
	case e.rows <- *rw:
		queued = true
	default:
	}
	a.mu.Unlock()
	return queued
}

// clockResetReadings is how many readings in a row must be older than the
// window by more than ClockResetAfter before the window restarts: one
// straggler (a redelivered message) does not wipe the window.
const clockResetReadings = 3

// clockReset handles a reading older than d's window by more than
// ClockResetAfter: after clockResetReadings of them in a row, the device's
// window restarts from this reading (if it has usable values; the old
// window stays otherwise). It returns the Push result to use.
func (e *Engine) clockReset(m *model, d *device, r Reading, now time.Time, res features.PushResult, err error) (features.PushResult, error) {
	if d.farBack++; d.farBack < clockResetReadings {
		return res, err
	}
	nw, werr := m.plan.NewWindow(m.window)
	if werr != nil {
		return res, err
	}
	nres, nerr := nw.Push(r.Time, r.Values, r.Waveforms)
	if nerr != nil {
		return res, err
	}
	newest := d.win.End()
	d.win, d.farBack = nw, 0
	e.met.clockResets.Inc()
	if last := e.clockLogAt.Load(); now.UnixNano()-last >= int64(clockResetLogEvery) && e.clockLogAt.CompareAndSwap(last, now.UnixNano()) {
		e.log.Warn("device clock went back; its feature window restarts (logged at most every 10s; edgepm_inference_clock_resets_total counts them)",
			"device", d.name, "newest", newest, "reading", r.Time, "clock_reset_after", e.cfg.ClockResetAfter)
	}
	return nres, nil
}

// clockResetLogEvery limits the clock-reset log line.
const clockResetLogEvery = 10 * time.Second

func (e *Engine) fitWindow(m *model, d *device) error {
	var err error
	switch {
	case d.win == nil:
		d.win, err = m.plan.NewWindow(m.window)
	case !m.plan.Fits(d.win, m.window):
		d.win, err = m.plan.Rebuild(d.win, m.window)
	}
	if err == nil {
		d.winModel = m
	}
	return err
}
