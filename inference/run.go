package inference

import (
	"context"
	"time"
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
			batch = e.collect(ctx, timer, append(batch[:0], r))
			e.score(batch, emit)
			if len(batch) < stale {
				clear(batch[len(batch):stale])
			}
			stale, busy = len(batch), true
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
// passed since the first, or ctx/the engine ends.
func (e *Engine) collect(ctx context.Context, timer *time.Timer, batch []row) []row {
	if e.cfg.MaxDelay < 0 {
		return e.collectQueued(batch)
	}
	timer.Reset(e.cfg.MaxDelay)
	defer timer.Stop()
	for len(batch) < e.cfg.MaxBatch {
		select {
		case r := <-e.rows:
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

// collectQueued adds only rows that are already queued.
func (e *Engine) collectQueued(batch []row) []row {
	for len(batch) < e.cfg.MaxBatch {
		select {
		case r := <-e.rows:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain scores every row still queued.
func (e *Engine) drain(batch []row, emit func(*Batch)) {
	for {
		batch = e.collectQueued(batch[:0])
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
// handed to emit views them. The caller clears batch's references.
func (e *Engine) score(batch []row, emit func(*Batch)) {
	ready := batch[0].ready // the oldest row: the batch's worst case
	b := &e.batch
	b.reset(batch)
	b.features = e.cfg.IncludeFeatures
	outs := e.outBuf[:0]
	for start := 0; start < len(batch); {
		end := start + 1
		for end < len(batch) && batch[end].m == batch[start].m {
			end++
		}
		outs = e.scoreGroup(b, batch, start, end, outs)
		start = end
	}
	if len(b.rows) > 0 || len(b.Alerts) > 0 {
		emit(b)
	}
	e.outBuf = outs[:0]
	if d := e.cfg.Now().Sub(ready); d > 0 { // one sample per batch
		e.met.latency.observe(uint64(d))
	} else {
		e.met.latency.observe(0)
	}
	b.reset(batch)
}

// scoreGroup scores batch[start:end], rows computed for one model, appends
// their outputs to outs, and adds the rows with finite outputs to b (moving
// them down to the end of b.rows, which is a prefix of batch) with the
// alert events they cause. It releases the rows' model references. A failed
// run adds nothing; rows with a non-finite output get no prediction.
func (e *Engine) scoreGroup(b *Batch, batch []row, start, end int, outs []float32) []float32 {
	rows := batch[start:end]
	m := rows[0].m
	defer m.release(len(rows))
	sc := m.sc
	copyRows(sc.input(len(rows)), rows, sc.f)
	out, err := sc.run(len(rows))
	e.met.batches.observe(len(rows))
	if err != nil {
		e.met.scoreErrors.Add(float64(len(rows)))
		e.log.Error("score batch", "model", m.id, "rows", len(rows), "err", err)
		return outs
	}
	at := len(outs)
	outs = append(outs, out...) // the tensor's buffer is reused by the next run
	o, k := outs[at:], sc.k
	first := len(b.rows) // the group's first row in b.rows
	if allFinite(o) && first == start {
		b.rows = batch[:end] // all kept, nothing to move
	} else {
		if bad := countNonFinite(o, k); bad > 0 {
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
		o = o[:kept*k]
		outs = outs[:at+kept*k]
	}
	n := len(b.rows) - first
	if n == 0 {
		return outs
	}
	b.groups = append(b.groups, batchGroup{name: m.man.Name, version: m.man.Version, start: first, end: first + n, k: k, outs: o})
	e.alertsFor(b, m, b.rows[first:], o, k)
	e.met.rows.Add(float64(n))
	return outs
}

// alertsFor applies alert hysteresis to rows and their outputs (k per row)
// and appends the resulting events to b.Alerts.
func (e *Engine) alertsFor(b *Batch, m *model, rows []row, outs []float32, k int) {
	th, _ := e.thresholdsFor(m)
	rul := lowIsBad(m.man.OutputSemantics)
	for i := range rows {
		r := &rows[i]
		a, score := &r.dev.alert, float64(outs[i*k])
		if a.quiet(&th, rul, score) {
			continue
		}
		if state, threshold, flipped := a.step(&th, rul, score, r.end); flipped {
			b.Alerts = append(b.Alerts, AlertEvent{Device: r.dev.name, Model: m.man.Name, ModelVersion: m.man.Version,
				State: state, Score: float64(outs[i*k]), Threshold: threshold, Time: r.end})
			e.met.alerts.WithLabelValues(state).Inc()
		}
	}
}
