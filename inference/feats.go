package inference

import (
	"sync"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"
)

// featSlabsKept is how many free slabs an arena keeps for reuse; more are
// released (their tensors destroyed, their memory left to the GC).
const featSlabsKept = 4

// featArena hands out a model's feature vectors from slabs, so that Observe
// allocates nothing per row. A slab has room for one full batch (the
// scorer's largest bucket) and Observe fills it one row after the other, so
// the rows of a batch usually sit next to each other in memory, in queue
// order, from the slab's first row: then the fast path reads them where
// they are (see inPlace). Otherwise Run copies the rows into the scorer's
// own input buffer.
//
// A slab is reused once every row taken from it is finished (scored and
// emitted, or dropped) and it is no longer the slab rows are taken from.
// The fast path seals a slab when it scores a batch that ends in it before
// its last row, so that rows queued after the batch was cut start a fresh
// slab at row 0 and the next batch lines up again.
//
// take, release and seal are safe for concurrent use; a slab's tensors are
// created and used by Run's goroutine only, and destroyed by destroy once
// the model is unreferenced.
type featArena struct {
	f, rows int // values per row, rows per slab

	mu   sync.Mutex
	cur  *featSlab   // slab rows are taken from; nil: take a fresh one
	free []*featSlab // finished slabs, at most featSlabsKept
	dead bool        // destroyed: finished slabs are dropped
}

// featSlab is room for one batch of feature vectors.
type featSlab struct {
	data []float32 // rows vectors of f values
	next int       // rows taken; guarded by the arena's mu
	// refs counts rows taken and not finished: added to under the arena's
	// mu, taken from without it (release); the slab is recycled under mu.
	refs atomic.Int64
	// recycled: in the arena's free list or destroyed, until a take reuses
	// it; guarded by the arena's mu. A release that brings refs to 0 after
	// a seal recycled the slab so finds it recycled already.
	recycled bool

	// sealed is set by Run (fast path) when it scores a batch that ends in
	// the slab: the next take starts a fresh slab (see featArena).
	sealed atomic.Bool

	// Input tensors over data, by scorer bucket; created on first use by
	// Run's goroutine, destroyed with the slab.
	tensors []*ort.Tensor[float32]
	ins     [][]ort.Value
}

func newFeatArena(f, rows int) featArena { return featArena{f: f, rows: rows} }

// take returns a zeroed vector of f values (capacity f: appending to it
// cannot reach the next row), the slab it lives in and its row there. The
// caller must finish the row with release.
func (a *featArena) take() (feat []float32, s *featSlab, idx int32) {
	a.mu.Lock()
	feat, s, idx = a.takeLocked()
	a.mu.Unlock()
	clear(feat) // a reused slab holds old vectors
	return feat, s, idx
}

// takeLocked is take without the lock and without zeroing the vector.
func (a *featArena) takeLocked() (feat []float32, s *featSlab, idx int32) {
	if a.cur == nil || a.cur.next == a.rows || a.cur.sealed.Load() {
		a.sealLocked(a.cur)
		if n := len(a.free); n > 0 {
			a.cur, a.free[n-1] = a.free[n-1], nil
			a.free = a.free[:n-1]
			a.cur.next, a.cur.recycled = 0, false
			a.cur.sealed.Store(false)
		} else {
			a.cur = &featSlab{data: make([]float32, a.rows*a.f)}
		}
	}
	s, idx = a.cur, int32(a.cur.next)
	s.next++
	s.refs.Add(1)
	at := int(idx) * a.f
	return s.data[at : at+a.f : at+a.f], s, idx
}

// release finishes n rows of s; it takes the lock only when they were the
// last. The current slab is recycled by the take that replaces it.
func (a *featArena) release(s *featSlab, n int) {
	if s.refs.Add(-int64(n)) == 0 {
		a.lastReleased(s)
	}
}

// lastReleased recycles s, whose refs a release brought to 0, unless it is
// the current slab or, since that release, a seal recycled it or a take
// reused it.
func (a *featArena) lastReleased(s *featSlab) {
	a.mu.Lock()
	if s.refs.Load() == 0 && s != a.cur && !s.recycled {
		a.recycleLocked(s)
	}
	a.mu.Unlock()
}

// seal stops taking rows from s if it is the current slab (at once, not
// at the next take as s.sealed does), and reports whether rows past the
// first n were taken from it.
func (a *featArena) seal(s *featSlab, n int) (more bool) {
	a.mu.Lock()
	if s == a.cur {
		a.sealLocked(s)
	}
	more = s.next > n
	a.mu.Unlock()
	return more
}

// sealLocked makes s (the current slab, or nil) no longer current.
func (a *featArena) sealLocked(s *featSlab) {
	if s == nil {
		return
	}
	a.cur = nil
	if s.refs.Load() == 0 { // the current slab is never recycled (lastReleased skips it)
		a.recycleLocked(s)
	}
}

// recycleLocked keeps a finished slab for reuse, or destroys it.
func (a *featArena) recycleLocked(s *featSlab) {
	s.recycled = true
	if !a.dead && len(a.free) < featSlabsKept {
		a.free = append(a.free, s)
		return
	}
	s.destroy()
}

// destroy releases the tensors of the arena's slabs; slabs finished later
// are destroyed then. The vectors stay readable (Go memory).
func (a *featArena) destroy() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dead = true
	for _, s := range a.free {
		s.destroy()
	}
	a.free = nil
	if a.cur != nil {
		a.cur.destroy() // its rows are all finished: rows release their slab row before the model
	}
}

func (s *featSlab) destroy() {
	for _, t := range s.tensors {
		if t != nil {
			t.Destroy()
		}
	}
	s.tensors, s.ins = nil, nil
}

// copyRows copies rows' feature vectors (f values each) to dst in order.
func copyRows(dst []float32, rows []row, f int) {
	for i := range rows {
		copy(dst[i*f:(i+1)*f], rows[i].feat)
	}
}
