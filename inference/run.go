package inference

import (
	"context"
	"time"
)

// Run scores queued rows in micro-batches (up to MaxBatch rows, or what
// arrived within MaxDelay of the first row) and calls emit with each batch's
// predictions and the alert events they caused, from Run's goroutine, in
// queue order. The slices belong to emit: the engine does not reuse them,
// so emit may keep them (e.g. hand them to another goroutine); they are
// carved from allocations shared by a few consecutive batches, so a kept
// slice keeps those few batches' memory reachable. Run
// returns nil when ctx ends, after scoring and emitting every row already
// queued; ErrClosed when the engine is closed (same draining); ErrRunning
// if another Run is active. Rows queued while no Run is active wait for the
// next Run.
func (e *Engine) Run(ctx context.Context, emit func([]Prediction, []AlertEvent)) error {
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
	for {
		select {
		case r := <-e.rows:
			batch = e.collect(ctx, timer, append(batch[:0], r))
			e.score(batch, emit)
		case <-drift.C:
			e.reportDrift()
		case <-idle.C:
			e.evictIdle(e.cfg.Now())
		case <-ctx.Done():
			e.drain(batch, emit)
			return nil
		case <-e.done:
			e.drain(batch, emit)
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
func (e *Engine) drain(batch []row, emit func([]Prediction, []AlertEvent)) {
	for {
		batch = e.collectQueued(batch[:0])
		if len(batch) == 0 {
			return
		}
		e.score(batch, emit)
	}
}

// score runs each run of consecutive rows that share a model on that model
// and emits the predictions of the whole batch once.
func (e *Engine) score(batch []row, emit func([]Prediction, []AlertEvent)) {
	preds := e.preds.take(len(batch)) // kept by emit; never reused
	var alerts []AlertEvent
	n := 0
	for start := 0; start < len(batch); {
		end := start + 1
		for end < len(batch) && batch[end].m == batch[start].m {
			end++
		}
		var got int
		alerts, got = e.scoreGroup(batch[start:end], preds[n:n+end-start], alerts)
		n += got
		start = end
	}
	if n > 0 || len(alerts) > 0 {
		emit(preds[:n:n], alerts)
	}
	// One latency sample per batch: its oldest row, i.e. the batch's worst case.
	e.met.latency.Observe(e.cfg.Now().Sub(batch[0].ready).Seconds())
	clear(batch)
}

// scoreGroup scores rows computed for one model, writes their predictions
// to preds[:n] and releases the rows' references. n is 0 when the run
// failed; rows with non-finite outputs get no prediction.
func (e *Engine) scoreGroup(rows []row, preds []Prediction, alerts []AlertEvent) (_ []AlertEvent, n int) {
	m := rows[0].m
	defer m.release(len(rows))
	sc := m.sc
	in := sc.input(len(rows))
	for i := range rows {
		copy(in[i*sc.f:(i+1)*sc.f], rows[i].feat)
	}
	out, err := sc.run(len(rows))
	e.met.batches.Inc()
	e.met.batchSize.Observe(float64(len(rows)))
	if err != nil {
		e.met.scoreErrors.Add(float64(len(rows)))
		e.log.Error("score batch", "model", m.id, "rows", len(rows), "err", err)
		return alerts, 0
	}
	outs := e.outs.take(len(out)) // one backing array per batch, sliced per row
	copy(outs, out)
	alerts, n = e.predict(m, rows, outs, preds, alerts)
	e.met.rows.Add(float64(n))
	return alerts, n
}

// predict turns rows' outputs into preds[:n] and applies alert hysteresis.
// A row with a NaN or Inf output gets no prediction: it is counted and
// logged (rate-limited), and the device's alert state is left as it was.
func (e *Engine) predict(m *model, rows []row, outs []float32, preds []Prediction, alerts []AlertEvent) (_ []AlertEvent, n int) {
	th, _ := e.thresholdsFor(m)
	rul := lowIsBad(m.man.OutputSemantics)
	name, version, k := m.man.Name, m.man.Version, m.sc.k
	bad := 0
	for i := range rows {
		r, o := &rows[i], outs[i*k:(i+1)*k:(i+1)*k]
		if !finite(o) {
			bad++
			continue
		}
		p := &preds[n]
		n++
		*p = Prediction{Device: r.dev.name, Model: name, ModelVersion: version, WindowEnd: r.end,
			Score: float64(o[0]), Outputs: o, FeatureHash: r.hash}
		if e.cfg.IncludeFeatures {
			p.Features = r.feat
		}
		if ev, raised := r.dev.alert.apply(th, rul, p); raised {
			alerts = append(alerts, ev)
			e.met.alerts.WithLabelValues(ev.State).Inc()
		}
	}
	if bad > 0 {
		e.invalidOutputs(m, rows, outs, bad)
	}
	return alerts, n
}
