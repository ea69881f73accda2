package inference

import (
	"context"
	"math"
	mathbits "math/bits"
	"time"
	"unsafe"

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
				r, more = e.takeCarry() // the row that started another slab: the next batch's first
			}
		case <-release.C:
			e.pruneLoud()
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
// passed since the first, ctx/the engine ends, or the next row starts
// another feature slab of the same model (see carry).
func (e *Engine) collect(ctx context.Context, timer *time.Timer, batch []row) []row {
	if e.cfg.MaxDelay < 0 {
		return e.collectQueued(batch)
	}
	timer.Reset(e.cfg.MaxDelay)
	defer timer.Stop()
	for len(batch) < e.cfg.MaxBatch {
		select {
		case r := <-e.rows:
			if e.carry(batch, r) {
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
			if e.carry(batch, r) {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// carry keeps r for the next batch, and reports so, when r is a row of
// another feature slab than the batch's last row and of the same model. A
// batch then never spans two slabs of a model, so after a batch that
// started inside a slab (one that Observe kept filling after the previous
// batch was cut) the next batch starts a slab at row 0 and is read in
// place (see Engine.stage).
func (e *Engine) carry(batch []row, r row) bool {
	if len(batch) == 0 {
		return false
	}
	if last := &batch[len(batch)-1]; r.slab == last.slab || r.m != last.m {
		return false
	}
	e.carried, e.carriedRow = true, r
	return true
}

// takeCarry returns the row carry kept, if any.
func (e *Engine) takeCarry() (row, bool) {
	if !e.carried {
		return row{}, false
	}
	r := e.carriedRow
	e.carried, e.carriedRow = false, row{}
	return r, true
}

// drain scores every row still queued (and a carried one).
func (e *Engine) drain(batch []row, emit func(*Batch)) {
	for {
		batch = batch[:0]
		if r, ok := e.takeCarry(); ok {
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
		end, inPlace, slots, devs := e.stage(batch, start)
		outs = e.scoreGroup(b, batch, start, end, inPlace, slots, devs, outs)
		start = end
	}
	if len(b.rows) > 0 || len(b.Alerts) > 0 {
		emit(b)
	}
	e.outBuf = outs[:0]
	e.finish()
	if d := e.since(ready); d > 0 { // one sample per batch
		e.met.latency.observe(uint64(d))
	} else {
		e.met.latency.observe(0)
	}
	b.reset(batch)
}

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

// stage finds the group of rows from batch[start] on that share its model
// and returns its end. inPlace reports that the group is the first rows of
// one feature slab, in order, so it can be scored where it is; slots are
// the group's device slots (for alertsFor, which then need not read the
// rows). The group's rows are recorded in e.spent, to be finished after
// emit. The slab the group ends in is sealed (featSlab.sealed), so that the
// next batch starts on a fresh slab.
//
// The common case costs a few row reads: rows of a slab that is not
// disordered reach the queue in row order (Engine.offer), so when the
// batch's row start is a slab's row 0, the rows from start that are that
// slab's rows 0, 1, 2, ... form a prefix found by binary search, and when
// the prefix is the rest of the batch or the whole slab it is the group.
// Otherwise every row of the group is checked.
func (e *Engine) stage(batch []row, start int) (end int, inPlace bool, slots []int32, devs []*device) {
	m, sl := batch[start].m, batch[start].slab
	if sl != nil && batch[start].idx == 0 && !sl.disordered.Load() {
		a := &m.feats
		n := min(len(batch)-start, a.rows)
		// batch[start+j] is row j of sl for j < p, and is not for j >= p.
		p, hi := 1, n
		for p < hi {
			j := int(uint(p+hi) >> 1)
			if r := &batch[start+j]; r.slab == sl && int(r.idx) == j {
				p = j + 1
			} else {
				hi = j
			}
		}
		if p == len(batch)-start || p == a.rows {
			if p < a.rows && !sl.sealed.Load() { // a full slab takes no more rows anyway
				sl.sealed.Store(true)
			}
			e.spent = append(e.spent, spentRun{m: m, slab: sl, n: p})
			return start + p, true, sl.slots[:p], sl.devs[:p]
		}
	}
	inPlace = sl != nil && batch[start].idx == 0
	from := start
	slots, devs = append(e.slots[:0], batch[start].slot), append(e.devs[:0], batch[start].dev)
	for end = start + 1; end < len(batch); end++ {
		r := &batch[end]
		if r.m != m {
			break
		}
		slots, devs = append(slots, r.slot), append(devs, r.dev)
		if r.slab != sl {
			e.spent = append(e.spent, spentRun{m: m, slab: sl, n: end - from})
			sl, from, inPlace = r.slab, end, false
		} else if int(r.idx) != end-start {
			inPlace = false
		}
	}
	e.spent = append(e.spent, spentRun{m: m, slab: sl, n: end - from})
	if sl != nil && !sl.sealed.Load() {
		sl.sealed.Store(true)
	}
	e.slots, e.devs = slots, devs
	return end, inPlace, slots, devs
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

// input returns the inputs to score rows (one model's group) with and the
// bucket. The group is read in place when stage found it to be the first
// rows of one slab and its bucket holds no row past it that Observe may be
// writing (the slab is sealed now in that case); otherwise the rows are
// copied to the scorer's input buffer.
func (e *Engine) input(m *model, rows []row, inPlace bool) (ins []ort.Value, bi int) {
	sc, n := m.sc, len(rows)
	bi = sc.bucket(n)
	if inPlace {
		sl := rows[0].slab
		pad := sc.buckets[bi].n - n
		if pad == 0 || !m.feats.seal(sl, n) {
			clear(sl.data[n*sc.f : (n+pad)*sc.f]) // padding rows, taken by no one: the slab is sealed
			in, err := sc.slabInputs(sl, bi)
			if err == nil {
				e.inPlace[1]++
				return in, bi
			}
			e.log.Warn("scoring from a copy of the features", "model", m.id, "err", err)
		}
	}
	copyRows(sc.input(n), rows, sc.f)
	clear(sc.in[n*sc.f : sc.buckets[bi].n*sc.f])
	e.inPlace[0]++
	return sc.buckets[bi].ins, bi
}

// scoreGroup scores batch[start:end], rows computed for one model, and adds
// the rows with finite outputs to b (moving them down to the end of b.rows,
// which is a prefix of batch) with the alert events they cause. The
// outputs stay in the scorer's buffer when the group ends the batch, else
// they are appended to outs (a later group may run on the same scorer). A
// failed run adds nothing; rows with a non-finite output get no prediction.
func (e *Engine) scoreGroup(b *Batch, batch []row, start, end int, inPlace bool, slots []int32, devs []*device, outs []float32) []float32 {
	rows := batch[start:end]
	m := rows[0].m
	sc := m.sc
	ins, bi := e.input(m, rows, inPlace)
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
	bad := e.alertsFor(b, m, rows, slots, devs, o, k)
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
		b.groups = append(b.groups, batchGroup{man: m.man, start: first, end: first + n, k: k, outs: o})
	}
	return outs
}

// alertsFor applies alert hysteresis to rows (computed for m) and their
// outputs (k per row; slots and devs are their device slots and devices,
// dense), appends the resulting
// events to b.Alerts, and returns how many rows have a non-finite output
// (they get no prediction and change no state).
//
// Most rows change nothing: no alert raised or pending for the device and
// the score on the quiet side of Raise. With one output per row, eight rows
// at a time are screened without reading the rows (quietFlags: the score's
// bits against quietRange, the device slot against the loud table) and
// only the flagged ones get the exact test (alertScan.row).
func (e *Engine) alertsFor(b *Batch, m *model, rows []row, slots []int32, devs []*device, o []float32, k int) (bad int) {
	p := e.alertPlanFor(m)
	a := alertScan{e: e, b: b, m: m, p: p, rows: rows, slots: slots[:len(rows)], devs: devs[:len(rows)], o: o, k: k}
	i := 0
	if k == 1 && len(rows) >= 8 {
		i = a.screen()
	}
	for ; i < len(rows); i++ {
		a.row(i)
	}
	return a.bad
}

// screen applies hysteresis to the rows of a (one output each) in blocks of
// eight, screened by quietFlags, and returns the first row it left (fewer
// than eight remain).
func (a *alertScan) screen() (i int) {
	e, p, o := a.e, a.p, a.o
	base, span := p.base, p.span
	bits := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(o))), len(o))[:len(a.slots)]
	for ; i+8 <= len(bits); i += 8 {
		flags := quietFlags(bits[i:i+8:i+8], a.slots[i:i+8:i+8], base, span, e.loudMask != 0, &e.loudTab)
		for flags != 0 {
			j := mathbits.TrailingZeros8(flags)
			flags &= flags - 1
			if p.staysRaised(&a.devs[i+j].alert, o[i+j]) {
				continue // nothing to record
			}
			if a.row(i + j) { // loud state changed: screen the block's later rows again
				flags = quietFlags(bits[i:i+8:i+8], a.slots[i:i+8:i+8], base, span, e.loudMask != 0, &e.loudTab) &^
					(uint8(2)<<j - 1)
			}
		}
	}
	return i
}

// alertScan is alertsFor's state.
type alertScan struct {
	e     *Engine
	b     *Batch
	m     *model
	p     *alertPlan
	rows  []row
	slots []int32
	devs  []*device
	o     []float32
	k     int
	bad   int
}

// alertPlan is what alertsFor derives from the thresholds that apply to a
// model, kept with the model (model.alert) while they stay the same.
type alertPlan struct {
	th         Thresholds
	rul        bool    // low scores are bad (remaining useful life)
	lo, hi     float32 // quiet scores while not raised: in (lo, hi)
	base, span uint32  // quietRange(th.Raise, rul)
	// rlo, rhi: the finite scores that keep a raised alert raised with no
	// crossing starting, [rlo, rhi]: at or over Clear (at or under when rul).
	rlo, rhi float32
}

// alertPlanFor returns m's alert plan for the thresholds in force, building
// it when they changed (SetThresholds) since the last batch of m. Run's
// goroutine only.
func (e *Engine) alertPlanFor(m *model) *alertPlan {
	ovr := e.thresholds.Load()
	c := &m.alert
	if c.built && c.ovr == ovr {
		return &c.plan
	}
	th, _ := thresholdsWith(m, ovr)
	p := alertPlan{th: th, rul: lowIsBad(m.man.OutputSemantics)}
	if p.rul { // quiet over Raise; staying raised at or under Clear
		p.lo, p.hi = roundDown32(th.Raise), float32(math.Inf(1))
		p.rlo, p.rhi = -math.MaxFloat32, roundDown32(th.Clear)
	} else { // quiet under Raise; staying raised at or over Clear
		p.lo, p.hi = float32(math.Inf(-1)), roundUp32(th.Raise)
		p.rlo, p.rhi = roundUp32(th.Clear), math.MaxFloat32
	}
	p.base, p.span = quietRange(th.Raise, p.rul)
	c.ovr, c.built, c.plan = ovr, true, p
	return &c.plan
}

// staysRaised reports, for a device with alert state st and one output x,
// what st.quiet would for a raised alert with nothing pending: x is finite
// and on the raised side of Clear, so nothing changes. False otherwise
// (then the exact test decides).
func (p *alertPlan) staysRaised(st *alertState, x float32) bool {
	return st.raised && !st.pending && p.rlo <= x && x <= p.rhi
}

// row applies hysteresis to row i and reports whether it changed the loud
// set.
func (a *alertScan) row(i int) (loudChanged bool) {
	e, k := a.e, a.k
	if x := a.o[i*k]; a.p.lo < x && x < a.p.hi && e.loudBy[a.slots[i]] == 0 && (k == 1 || finite(a.o[i*k:(i+1)*k])) {
		return false // quiet: flagged only for another device of its loud-table entry, or a negative score
	}
	if !finite(a.o[i*k : (i+1)*k]) {
		a.bad++
		return false
	}
	d := a.devs[i] // the device, without reading the row
	st, score := &d.alert, float64(a.o[i*k])
	if st.quiet(&a.p.th, a.p.rul, score) {
		return false
	}
	r := &a.rows[i]
	state, threshold, flipped := st.step(&a.p.th, a.p.rul, score, r.end)
	if loud := st.raised || st.pending; loud != (r.dev.loudAt > 0) {
		e.setLoud(r.dev, loud)
		loudChanged = true
	}
	if flipped {
		a.b.Alerts = append(a.b.Alerts, AlertEvent{Device: r.dev.name, Model: a.m.man.Name, ModelVersion: a.m.man.Version,
			State: state, Score: score, Threshold: threshold, Time: r.end})
		e.met.alerts.WithLabelValues(state).Inc()
	}
	return loudChanged
}

// quietFlags returns a bit per row of bits (8 scores' float32 bits) and
// slots (their device slots) that needs the exact test: b-base >= span
// (mod 2^32; outside quietRange) or, when anyLoud, the slot%64 marked in
// loud. No branch per row: (span-1-(b-base)) >> 63, in 64 bits, is 1
// exactly when b-base >= span.
func quietFlags(bits []uint32, slots []int32, base, span uint32, anyLoud bool, loud *[64]uint8) uint8 {
	bits, slots = bits[:8], slots[:8]
	lim := uint64(span) - 1 // span 0: every row flagged
	f := uint8((lim-uint64(bits[0]-base))>>63) | uint8((lim-uint64(bits[1]-base))>>63)<<1 |
		uint8((lim-uint64(bits[2]-base))>>63)<<2 | uint8((lim-uint64(bits[3]-base))>>63)<<3 |
		uint8((lim-uint64(bits[4]-base))>>63)<<4 | uint8((lim-uint64(bits[5]-base))>>63)<<5 |
		uint8((lim-uint64(bits[6]-base))>>63)<<6 | uint8((lim-uint64(bits[7]-base))>>63)<<7
	if anyLoud {
		f |= loud[slots[0]&63] | loud[slots[1]&63]<<1 | loud[slots[2]&63]<<2 | loud[slots[3]&63]<<3 |
			loud[slots[4]&63]<<4 | loud[slots[5]&63]<<5 | loud[slots[6]&63]<<6 | loud[slots[7]&63]<<7
	}
	return f
}

// quietRange returns base and span such that, for a float32 score v with
// bits b, b-base < span (mod 2^32) only if v is finite and on the quiet side
// of raise (under it; over it when rul): the non-negative scores under a
// positive raise are the bit patterns [0, bits(raise)), and the finite
// scores over a non-negative raise are (bits(raise), bits(+Inf)). Scores
// outside the range (negative scores, other thresholds) are left to the
// exact test; span 0 leaves every score to it.
func quietRange(raise float64, rul bool) (base, span uint32) {
	if raise == 0 {
		raise = 0 // -0 as +0: its bits are a negative's
	}
	switch {
	case !rul && raise > 0:
		return 0, math.Float32bits(roundUp32(raise))
	case rul && raise >= 0 && !math.IsInf(raise, 1):
		lo := math.Float32bits(roundDown32(raise))
		return lo + 1, math.Float32bits(float32(math.Inf(1))) - lo - 1
	}
	return 0, 0
}

// roundUp32 returns the least float32 f with float64(f) >= x: for every
// float32 v, v < roundUp32(x) exactly when float64(v) < x.
func roundUp32(x float64) float32 {
	f := float32(x)
	if float64(f) < x {
		f = math.Nextafter32(f, float32(math.Inf(1)))
	}
	return f
}

// roundDown32 returns the greatest float32 f with float64(f) <= x: for
// every float32 v, v > roundDown32(x) exactly when float64(v) > x.
func roundDown32(x float64) float32 {
	f := float32(x)
	if float64(f) > x {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

// setLoud adds d to e.loud (loud: its alert is raised or a crossing is
// pending) or removes it, and counts it in e.loudBy under its slot. Run's
// goroutine only.
func (e *Engine) setLoud(d *device, loud bool) {
	bit := d.slot & 63
	if loud {
		e.loud = append(e.loud, d)
		d.loudAt = len(e.loud)
		e.loudBy[d.slot]++
		if e.loudBits[bit]++; e.loudBits[bit] == 1 {
			e.loudMask |= 1 << bit
			e.loudTab[bit] = 1
		}
		return
	}
	e.loudBy[d.slot]--
	if e.loudBits[bit]--; e.loudBits[bit] == 0 {
		e.loudMask &^= 1 << bit
		e.loudTab[bit] = 0
	}
	i := d.loudAt - 1
	last := e.loud[len(e.loud)-1]
	e.loud[i], last.loudAt = last, i+1
	e.loud[len(e.loud)-1] = nil
	e.loud = e.loud[:len(e.loud)-1]
	d.loudAt = 0
}

// pruneLoud drops devices evicted since before the previous prune from
// e.loud, and their alert state with them (eviction loses a device's alert
// state; rows of it still queued start afresh): keeping them would send
// every row of the device that reuses the slot down alertsFor's slow path
// for good. Run calls it every second.
func (e *Engine) pruneLoud() {
	for i := 0; i < len(e.loud); {
		d := e.loud[i]
		d.mu.Lock()
		evicted := d.evicted
		d.mu.Unlock()
		if evicted && d.loudGone {
			// Its alert state is dropped, as eviction promises: a row of it
			// still queued then starts from a fresh state, which is what
			// the screening in alertsFor assumes for a device not loud.
			d.alert = alertState{}
			e.setLoud(d, false) // moves the last device to i
			continue
		}
		d.loudGone = evicted
		i++
	}
}
