package inference

import (
	"math"
	"time"
)

// shadowJob is one group of a served batch handed to the shadow: copies of
// its rows (device, window end, lineage hash) and feature vectors, and the
// served model's score and alert decision for each.
type shadowJob struct {
	rows   []row // feat points into feats; no model or slab reference
	feats  []float32
	served []servedScore
	im     *inputMap
}

type servedScore struct {
	score float64
	alert bool // the score is on the alerting side of the served model's raise threshold
}

// shadowFit caches shadowInput for the last (shadow, served model) pair.
// Run's goroutine only.
type shadowFit struct {
	s  *shadowSlot
	m  *model
	im *inputMap
	ok bool
}

// toShadow hands the scored batch b to the shadow s, one job per group,
// without waiting: a group is dropped (counted) when no job is free or its
// model reads another input than the shadow. Run's goroutine, after emit
// and before the rows are finished (their feature vectors are still
// valid).
func (e *Engine) toShadow(s *shadowSlot, b *Batch) {
	for gi := range b.groups {
		g := &b.groups[gi]
		n := g.end - g.start
		if c := &e.shadowFit; c.s != s || c.m != g.m {
			im, ok := shadowInput(g.m, s.m)
			*c = shadowFit{s: s, m: g.m, im: im, ok: ok}
		}
		if !e.shadowFit.ok {
			s.drop(e, shadowInputMismatch, n)
			continue
		}
		select {
		case j := <-s.free:
			j.fill(b, g, e.ruleOf(g.m), e.shadowFit.im)
			s.jobs <- j // never blocks: jobs has room for every job
		default:
			s.drop(e, shadowQueueFull, n)
		}
	}
}

// fill copies group g of b into j; rule is the served model's alert rule.
func (j *shadowJob) fill(b *Batch, g *batchGroup, rule *alertRule, im *inputMap) {
	j.im = im
	j.rows, j.feats, j.served = j.rows[:0], j.feats[:0], j.served[:0]
	idx := g.man.OutputIndex
	for i := g.start; i < g.end; i++ {
		r := &b.rows[i]
		j.feats = append(j.feats, r.feat...)
		j.rows = append(j.rows, row{dev: r.dev, end: r.end, hash: r.hash})
		score := float64(g.outs[(i-g.start)*g.k+idx])
		j.served = append(j.served, servedScore{score: score, alert: rule.crosses(false, score)})
	}
	f := len(j.feats) / max(len(j.rows), 1)
	for i := range j.rows {
		j.rows[i].feat = j.feats[i*f : (i+1)*f : (i+1)*f]
	}
}

// shadowLoop scores s's jobs until s is stopped. It is s's goroutine: the
// only user of the shadow model's session.
func (e *Engine) shadowLoop(s *shadowSlot) {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case j := <-s.jobs:
			e.scoreShadow(s, j)
			clear(j.rows) // no device kept reachable by an idle job
			s.free <- j
		}
	}
}

// scoreShadow scores job j with the shadow model, adds the windows with a
// finite output to the comparison and hands them to OnShadow.
func (e *Engine) scoreShadow(s *shadowSlot, j *shadowJob) {
	sc, n := s.m.sc, len(j.rows)
	j.im.apply(sc.input(n), j.feats)
	out, err := e.runShadow(sc, n)
	if err != nil {
		s.errors.Add(uint64(n))
		e.met.shadowErrors.Add(float64(n))
		if ok, held := s.errLog.allow(e.cfg.Now(), 10*time.Second); ok {
			e.log.Warn("shadow model failed to score a batch; served predictions are not affected",
				"model", s.m.id, "rows", n, "err", err, "suppressed", held)
		}
		return
	}
	kept := s.compare(e, j, out)
	e.met.shadowScored.Add(float64(kept))
	if bad := n - kept; bad > 0 {
		s.errors.Add(uint64(bad))
		e.met.shadowErrors.Add(float64(bad))
	}
	if kept == 0 || e.cfg.OnShadow == nil {
		return
	}
	b := &s.batch
	b.reset(j.rows)
	b.rows, b.features = j.rows[:kept], e.cfg.IncludeFeatures
	b.groups = append(b.groups, batchGroup{man: s.m.man, m: s.m, start: 0, end: kept, k: sc.k, outs: out[:kept*sc.k]})
	e.cfg.OnShadow(b)
	b.reset(j.rows)
}

// runShadow runs the shadow's scorer on its first n input rows.
func (e *Engine) runShadow(sc *scorer, n int) ([]float32, error) {
	if e.shadowRun != nil {
		return e.shadowRun(sc, n)
	}
	return sc.run(n)
}

// compare adds the rows of j whose shadow outputs (in out, k per row) are
// finite to s's comparison, compacts them and their outputs to the front
// (in order) and returns how many there are.
func (s *shadowSlot) compare(e *Engine, j *shadowJob, out []float32) (kept int) {
	rule := ruleFor(s.m, e.thresholds.Load())
	k, idx := s.m.sc.k, s.m.man.OutputIndex
	var agreed uint64
	var diff float64
	for i := range j.rows {
		o := out[i*k : (i+1)*k]
		if !finite(o) {
			continue
		}
		score := float64(o[idx])
		if rule.crosses(false, score) == j.served[i].alert {
			agreed++
		}
		diff += math.Abs(score - j.served[i].score)
		copy(out[kept*k:], o)
		j.rows[kept] = j.rows[i]
		kept++
	}
	s.mu.Lock()
	s.windows += uint64(kept)
	s.agreed += agreed
	s.absDiff += diff
	s.mu.Unlock()
	return kept
}
