package inference

import (
	"context"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// Run scores queued rows in micro-batches (up to MaxBatch rows, or what
// arrived within MaxDelay of the first row) and calls emit with each scored
// batch (its predictions and the alert events they caused), from Run's
// goroutine, in queue order. The Batch is a view of buffers the engine
// reuses: it is valid only until emit returns (see Batch), so emit reads or
// copies what it needs and must not keep the Batch or slices from it. Scoring
// waits while emit runs. Run returns nil when ctx ends, after scoring and
// emitting every row already queued; ErrClosed when the engine is closed
// (same draining); ErrRunning if another Run is active. Rows queued while no
// Run is active wait for the next Run.
func (e *Engine) Run(ctx context.Context, emit func(*Batch)) error {
	if !e.running.TryLock() {
		return ErrRunning
	}
	defer e.running.Unlock()
	e.stateMu.Lock()
	if e.closed.Load() {
		e.stateMu.Unlock()
		return ErrClosed
	}
	e.runWG.Add(1)
	e.stateMu.Unlock()
	defer e.runWG.Done()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	drift := e.tickerEvery(e.cfg.DriftInterval)
	defer drift.Stop()
	idle := e.tickerEvery(e.idleSweepEvery())
	defer idle.Stop()
	batch := make([]row, 0, e.cfg.MaxBatch)
	// Scored rows stay in batch's array until the next batch overwrites
	// them (clearing 256 rows per batch costs more than the check); what
	// the next batch did not overwrite is cleared then, and everything once
	// Run has been idle for a second, so old models and devices are not
	// kept reachable.
	stale, busy := 0, false
	release := time.NewTicker(time.Second)
	defer release.Stop()
	for {
		select {
		case r := <-e.rows:
			for more := true; more; {
				batch = e.collect(ctx, timer, append(batch[:0], r))
				e.score(batch, emit)
				if len(batch) < stale {
					clear(batch[len(batch):stale])
				}
				stale, busy = len(batch), true
				r, more = e.fast.takeCarry() // the row that started another slab: the next batch's first
			}
		case <-release.C:
			if !busy {
				clear(batch[:stale])
				stale = 0
			}
			busy = false
		case <-drift.C:
			e.reportDrift()
		case <-idle.C:
			e.evictIdle(e.cfg.Now())
		case <-ctx.Done():
			e.drain(batch, emit)
			clear(batch[:cap(batch)])
			return nil
		case <-e.done:
			e.drain(batch, emit)
			clear(batch[:cap(batch)])
			return ErrClosed
		}
	}
}

// collect adds rows to batch until it holds MaxBatch rows, MaxDelay has
// passed since the first, ctx/the engine ends, or (fast path) the next row
// starts another feature slab of the same model (see inPlace.cut).
func (e *Engine) collect(ctx context.Context, timer *time.Timer, batch []row) []row {
	if e.cfg.MaxDelay < 0 {
		return e.collectQueued(batch)
	}
	timer.Reset(e.cfg.MaxDelay)
	defer timer.Stop()
	for len(batch) < e.cfg.MaxBatch {
		select {
		case r := <-e.rows:
			if e.fast.cut(batch, r) {
				return batch
			}
			batch = append(batch, r)
		case <-timer.C:
			return batch
		case <-ctx.Done():
			return batch
		case <-e.done:
			return batch
		}
	}
	return batch
}

// collectQueued adds only rows that are already queued (same limits as
// collect, but no waiting).
func (e *Engine) collectQueued(batch []row) []row {
	for len(batch) < e.cfg.MaxBatch {
		select {
		case r := <-e.rows:
			if e.fast.cut(batch, r) {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain scores every row still queued (and a carried one).
func (e *Engine) drain(batch []row, emit func(*Batch)) {
	for {
		batch = batch[:0]
		if r, ok := e.fast.takeCarry(); ok {
			batch = append(batch, r)
		}
		batch = e.collectQueued(batch)
		if len(batch) == 0 {
			return
		}
		e.score(batch, emit)
		clear(batch)
	}
}

// score runs each run of consecutive rows that share a model on that model
// and emits the predictions of the whole batch once. The rows with a
// prediction are compacted to the front of batch (in order) and the Batch
// handed to emit views them. After emit, every row of batch is finished
// (its feature slab row and model reference released); the caller clears
// batch's references.
func (e *Engine) score(batch []row, emit func(*Batch)) {
	ready := batch[0].ready // the oldest row: the batch's worst case
	b := &e.batch
	b.reset(batch)
	b.features = e.cfg.IncludeFeatures
	outs := e.outBuf[:0]
	for start := 0; start < len(batch); {
		end := e.group(batch, start)
		outs = e.scoreGroup(b, batch, start, end, outs)
		start = end
	}
	if len(b.rows) > 0 || len(b.Alerts) > 0 {
		emit(b)
	}
	if s := e.shadow.Load(); s != nil { // the only cost on this path without a shadow
		e.toShadow(s, b)
	}
	e.outBuf = outs[:0]
	e.finish()
	if e.batchN++; e.batchN%latencyEvery == 1 { // the first batch, then one in latencyEvery
		e.met.latency.observe(uint64(max(e.since(ready), 0)))
	}
	b.reset(batch)
}

// latencyEvery is how many batches there are per sample of
// edgepm_inference_window_to_prediction_seconds. Reading the clock costs
// 80-140 ns on a KVM guest (kvm-clock), 40% of edgepm's whole per-batch cost
// at batch 1 (BenchmarkScoreOverhead); one batch in 8 keeps the histogram's
// shape and still samples a gateway at 1 batch/s every 8 s.
const latencyEvery = 8

// since returns the time elapsed since t on the engine's clock. With the
// default clock it reads only the monotonic clock (time.Since), half the
// cost of time.Now.
func (e *Engine) since(t time.Time) time.Duration {
	if e.realClock {
		return time.Since(t)
	}
	return e.cfg.Now().Sub(t)
}

// spentRun is a run of a batch's rows from one model and feature slab,
// finished after emit.
type spentRun struct {
	m    *model
	slab *featSlab
	n    int
}

// group returns the end of the group of rows from batch[start] on that
// share its model, and records the group's rows in e.spent (a run per
// feature slab), to be finished after emit.
func (e *Engine) group(batch []row, start int) (end int) {
	m, sl, from := batch[start].m, batch[start].slab, start
	for end = start + 1; end < len(batch) && batch[end].m == m; end++ {
		if r := &batch[end]; r.slab != sl {
			e.spent = append(e.spent, spentRun{m: m, slab: sl, n: end - from})
			sl, from = r.slab, end
		}
	}
	e.spent = append(e.spent, spentRun{m: m, slab: sl, n: end - from})
	return end
}

// finish releases the feature slab rows and model references of the rows
// scored since the last finish.
func (e *Engine) finish() {
	for _, s := range e.spent {
		if s.slab != nil {
			s.m.feats.release(s.slab, s.n)
		}
		s.m.release(s.n)
	}
	clear(e.spent)
	e.spent = e.spent[:0]
}

// input returns the inputs to score rows (one model's group) with and their
// bucket: in place on the fast path where its invariant holds (inPlace),
// else the rows copied into the scorer's input buffer (the reference path).
func (e *Engine) input(m *model, rows []row) (ins []ort.Value, bi int) {
	if ins, bi, ok := e.fast.input(m, rows); ok {
		return ins, bi
	}
	sc, n := m.sc, len(rows)
	bi = sc.bucket(n)
	copyRows(sc.input(n), rows, sc.f)
	clear(sc.in[n*sc.f : sc.buckets[bi].n*sc.f])
	return sc.buckets[bi].ins, bi
}

// scoreGroup scores batch[start:end], rows computed for one model, and adds
// the rows with finite outputs to b (moving them down to the end of b.rows,
// which is a prefix of batch) with the alert events they cause. The
// outputs stay in the scorer's buffer when the group ends the batch, else
// they are appended to outs (a later group may run on the same scorer). A
// failed run adds nothing; rows with a non-finite output get no prediction.
func (e *Engine) scoreGroup(b *Batch, batch []row, start, end int, outs []float32) []float32 {
	rows := batch[start:end]
	m := rows[0].m
	sc := m.sc
	ins, bi := e.input(m, rows)
	o, err := sc.runOn(ins, bi, len(rows))
	if err != nil {
		e.met.batches.observe(len(rows))
		e.met.scoreErrors.Add(float64(len(rows)))
		e.log.Error("score batch", "model", m.id, "rows", len(rows), "err", err)
		return outs
	}
	copied := end < len(batch)
	if copied {
		at := len(outs)
		outs = append(outs, o...)
		o = outs[at:]
	}
	k := sc.k
	bad := e.alertsFor(b, m, rows, o, k)
	first := len(b.rows) // the group's first row in b.rows
	if bad == 0 && first == start {
		b.rows = batch[:end] // all kept, nothing to move
	} else {
		if bad > 0 {
			e.invalidOutputs(m, rows, o, bad)
		}
		kept := 0
		for i := range rows {
			ro := o[i*k : (i+1)*k]
			if !finite(ro) {
				continue
			}
			copy(o[kept*k:], ro)
			b.rows = append(b.rows, rows[i]) // writes at or below i: batch is its backing array
			kept++
		}
		if copied { // o is the tail of outs
			outs = outs[:len(outs)-len(o)+kept*k]
		}
		o = o[:kept*k]
	}
	e.met.batches.observe(len(rows))
	if n := len(b.rows) - first; n > 0 {
		e.met.scored.Add(uint64(n))
		b.groups = append(b.groups, batchGroup{man: m.man, m: m, start: first, end: first + n, k: k, outs: o})
	}
	return outs
}

// alertsFor steps every row of rows (computed for m) with a finite output
// (k outputs per row in o) through the alert rule in force, in order,
// appends the resulting events to b.Alerts, and returns how many rows have
// a non-finite output (they get no prediction and change no state).
func (e *Engine) alertsFor(b *Batch, m *model, rows []row, o []float32, k int) (bad int) {
	rule := e.ruleOf(m)
	for i := range rows {
		ro := o[i*k : (i+1)*k]
		if !finite(ro) {
			bad++
			continue
		}
		r := &rows[i]
		score := float64(ro[m.man.OutputIndex])
		state, threshold, flipped := rule.step(&r.dev.alert, score, r.end)
		if flipped {
			b.Alerts = append(b.Alerts, AlertEvent{Device: r.dev.name, Model: m.man.Name, ModelVersion: m.man.Version,
				State: state, Score: score, Threshold: threshold, Time: r.end, Fields: r.dev.fields})
			e.met.alerts.WithLabelValues(state).Inc()
		}
	}
	return bad
}

// cachedRule is the alert rule of one model under one threshold override
// (the pointer SetThresholds stored), so a batch does not rebuild it.
type cachedRule struct {
	m    *model
	ovr  *Thresholds
	rule alertRule
}

// ruleOf returns the rule for m under the override in force, rebuilt only
// when either changed since the last batch. Run's goroutine.
func (e *Engine) ruleOf(m *model) *alertRule {
	ovr := e.thresholds.Load()
	if c := &e.rule; c.m != m || c.ovr != ovr {
		*c = cachedRule{m: m, ovr: ovr, rule: ruleFor(m, ovr)}
	}
	return &e.rule.rule
}
