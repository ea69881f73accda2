package inference

import (
	"math"
	"time"
)

// shadowJob holds served rows for the shadow: copies of their device,
// window end, lineage hash and feature vector, and the served model's
// score and alert decision for each.
type shadowJob struct {
	rows   []row // dev, end, hash; feat is set when scored (feats may grow)
	feats  []float32
	served []servedScore
}

type servedScore struct {
	score float64
	alert bool      // the score is on the alerting side of the served model's raise threshold
	im    *inputMap // how the row becomes the shadow's input
}

func newShadowJob(rows, f int) *shadowJob {
	return &shadowJob{rows: make([]row, 0, rows), feats: make([]float32, 0, rows*f), served: make([]servedScore, 0, rows)}
}

// reset empties j, keeping its memory (and dropping device references).
func (j *shadowJob) reset() {
	clear(j.rows)
	j.rows, j.feats, j.served = j.rows[:0], j.feats[:0], j.served[:0]
}

// shadowFit caches shadowInput for the last (shadow, served model) pair.
// Run's goroutine only.
type shadowFit struct {
	s  *shadowSlot
	m  *model
	im *inputMap
	ok bool
}

// toShadow copies the scored batch b into the shadow s's inbox, without
// waiting: rows past the inbox's bound, and groups whose model reads
// another input than the shadow, are dropped (counted). Run's goroutine,
// after emit and before the rows are finished (their feature vectors are
// still valid).
func (e *Engine) toShadow(s *shadowSlot, b *Batch) {
	for gi := range b.groups {
		g := &b.groups[gi]
		if c := &e.shadowFit; c.s != s || c.m != g.m {
			im, ok := shadowInput(g.m, s.m)
			*c = shadowFit{s: s, m: g.m, im: im, ok: ok}
		}
		if !e.shadowFit.ok {
			s.drop(e, shadowInputMismatch, g.end-g.start)
			continue
		}
		s.mu.Lock()
		taken := 0
		if !s.stopped {
			taken = s.inbox.add(b, g, e.ruleOf(g.m), e.shadowFit.im, s.limit)
		}
		wake := s.idle && taken > 0
		if wake {
			s.idle = false
		}
		s.mu.Unlock()
		if wake {
			s.wake <- struct{}{} // never blocks: only the sender that cleared idle sends
		}
		if n := g.end - g.start - taken; n > 0 {
			s.drop(e, shadowQueueFull, n)
		}
	}
}

// add copies group g of b into j, as many rows as fit under limit, and
// returns how many it copied; rule is the served model's alert rule.
func (j *shadowJob) add(b *Batch, g *batchGroup, rule *alertRule, im *inputMap, limit int) (n int) {
	n = min(g.end-g.start, limit-len(j.rows))
	idx := g.man.OutputIndex
	for i := g.start; i < g.start+n; i++ {
		r := &b.rows[i]
		j.feats = append(j.feats, r.feat...)
		j.rows = append(j.rows, row{dev: r.dev, end: r.end, hash: r.hash})
		score := float64(g.outs[(i-g.start)*g.k+idx])
		j.served = append(j.served, servedScore{score: score, alert: rule.crosses(false, score), im: im})
	}
	return max(n, 0)
}

// shadowLoop scores what Run puts in s's inbox until s is stopped. It is
// s's goroutine: the only user of the shadow model's session.
func (e *Engine) shadowLoop(s *shadowSlot) {
	defer close(s.done)
	for {
		s.mu.Lock()
		if len(s.inbox.rows) == 0 {
			s.idle = true
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-s.wake:
				continue
			}
		}
		s.inbox, s.work = s.work, s.inbox
		s.mu.Unlock()
		e.scoreJob(s, s.work)
		s.work.reset()
		select {
		case <-s.stop:
			return
		default:
		}
	}
}

// scoreJob scores job j in runs of at most the scorer's batch size.
func (e *Engine) scoreJob(s *shadowSlot, j *shadowJob) {
	f, step := s.m.sc.f, s.m.sc.maxRows()
	for i := range j.rows {
		j.rows[i].feat = j.feats[i*f : (i+1)*f : (i+1)*f]
	}
	for start := 0; start < len(j.rows); start += step {
		end := min(start+step, len(j.rows))
		e.scoreShadow(s, j.rows[start:end], j.served[start:end])
	}
}

// scoreShadow scores rows (with the served model's scores) with the shadow
// model, adds those with a finite output to the comparison and hands them
// to OnShadow.
func (e *Engine) scoreShadow(s *shadowSlot, rows []row, served []servedScore) {
	sc, n := s.m.sc, len(rows)
	in := sc.input(n)
	for i := range rows {
		served[i].im.apply(in[i*sc.f:(i+1)*sc.f], rows[i].feat)
	}
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
	kept := s.compare(e, rows, served, out)
	e.met.shadowScored.Add(float64(kept))
	if bad := n - kept; bad > 0 {
		s.errors.Add(uint64(bad))
		e.met.shadowErrors.Add(float64(bad))
	}
	if kept == 0 || e.cfg.OnShadow == nil {
		return
	}
	b := &s.batch
	b.reset(rows)
	b.rows, b.features = rows[:kept], e.cfg.IncludeFeatures
	b.groups = append(b.groups, batchGroup{man: s.m.man, m: s.m, start: 0, end: kept, k: sc.k, outs: out[:kept*sc.k]})
	e.cfg.OnShadow(b)
	b.reset(rows)
}

// runShadow runs the shadow's scorer on its first n input rows.
func (e *Engine) runShadow(sc *scorer, n int) ([]float32, error) {
	if e.shadowRun != nil {
		return e.shadowRun(sc, n)
	}
	return sc.run(n)
}

// compare adds the rows whose shadow outputs (in out, k per row) are
// finite to s's comparison, compacts them and their outputs to the front
// (in order) and returns how many there are.
func (s *shadowSlot) compare(e *Engine, rows []row, served []servedScore, out []float32) (kept int) {
	rule := ruleFor(s.m, e.thresholds.Load())
	k, idx := s.m.sc.k, s.m.man.OutputIndex
	var agreed uint64
	var diff float64
	for i := range rows {
		o := out[i*k : (i+1)*k]
		if !finite(o) {
			continue
		}
		score := float64(o[idx])
		if rule.crosses(false, score) == served[i].alert {
			agreed++
		}
		diff += math.Abs(score - served[i].score)
		copy(out[kept*k:], o)
		rows[kept] = rows[i]
		kept++
	}
	s.cmpMu.Lock()
	s.windows += uint64(kept)
	s.agreed += agreed
	s.absDiff += diff
	s.cmpMu.Unlock()
	return kept
}
