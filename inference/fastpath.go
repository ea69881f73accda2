package inference

import (
	"log/slog"

	ort "github.com/yalue/onnxruntime_go"
)

// inPlace is the fast scoring path (EngineConfig.Scoring "fast", the
// default): ONNX Runtime reads a group of rows where Observe computed them,
// through an input tensor over their feature slab (featArena), instead of
// from a copy in the scorer's input buffer. It changes only where the input
// tensor's values come from: the outputs, the alert rule (alertRule.step,
// applied to every row) and emit are the same code on both paths, and
// TestScoringPathsMatchReference runs both against the same reference.
//
// Invariant: a group of n rows is read in place only when, for every j < n,
// the group's row j is row j of one slab sl, so the tensor's first n rows
// are the group's feature vectors, in order; and no row past n of sl is
// written while ONNX Runtime reads the tensor's padding rows: sl is sealed
// under the arena's lock before they are zeroed, and if Observe took a row
// past n before the seal, the group is copied instead. Any group that is
// not provably so is copied, exactly as on the reference path.
//
// To keep batches lined up with slabs, collect cuts a batch where the next
// row of a model is from another slab than the batch's last row (cut), and
// the slab a group ends in is marked sealed, so that the rows queued after
// it start a fresh slab at row 0.
//
// Run's goroutine only.
type inPlace struct {
	log      *slog.Logger
	carried  row       // the row cut kept for the next batch
	hasCarry bool      // carried is set
	groups   [2]uint64 // groups scored from a copy [0] and in place [1] (tests)
}

// cut keeps r for the next batch, and reports so, when r is a row of
// another feature slab than the batch's last row and of the same model: a
// batch then never spans two slabs of a model. Always false for nil (the
// reference path).
func (p *inPlace) cut(batch []row, r row) bool {
	if p == nil || len(batch) == 0 {
		return false
	}
	if last := &batch[len(batch)-1]; r.slab == last.slab || r.m != last.m {
		return false
	}
	p.carried, p.hasCarry = r, true
	return true
}

// takeCarry returns the row cut kept, if any.
func (p *inPlace) takeCarry() (row, bool) {
	if p == nil || !p.hasCarry {
		return row{}, false
	}
	r := p.carried
	p.carried, p.hasCarry = row{}, false
	return r, true
}

// input returns the inputs to score rows (one model's group) in place and
// their bucket, or ok false when the invariant does not hold for them (the
// caller copies them). It marks the slab the group ends in sealed.
func (p *inPlace) input(m *model, rows []row) (ins []ort.Value, bi int, ok bool) {
	if p == nil {
		return nil, 0, false
	}
	sl := rows[len(rows)-1].slab
	if sl != nil && !sl.sealed.Load() {
		sl.sealed.Store(true) // the next take starts a fresh slab
	}
	if !slabPrefix(rows, sl) {
		p.groups[0]++
		return nil, 0, false
	}
	sc, n := m.sc, len(rows)
	bi = sc.bucket(n)
	pad := sc.buckets[bi].n - n
	if pad > 0 && m.feats.seal(sl, n) { // Observe took a row past n: it may be writing it
		p.groups[0]++
		return nil, 0, false
	}
	clear(sl.data[n*sc.f : (n+pad)*sc.f]) // padding rows, taken by no one: the slab is sealed
	ins, err := sc.slabInputs(sl, bi)
	if err != nil {
		p.log.Warn("scoring from a copy of the features", "model", m.id, "err", err)
		p.groups[0]++
		return nil, 0, false
	}
	p.groups[1]++
	return ins, bi, true
}

// slabPrefix reports whether rows are rows 0, 1, ... of slab sl, in order.
func slabPrefix(rows []row, sl *featSlab) bool {
	if sl == nil {
		return false
	}
	for j := range rows {
		if rows[j].slab != sl || int(rows[j].idx) != j {
			return false
		}
	}
	return true
}
