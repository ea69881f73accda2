package inference

// arenaBatches is how many full batches one arena chunk holds.
const arenaBatches = 4

// arena hands out disjoint slices of larger allocations, so that a batch's
// predictions (and their outputs) cost one allocation per few batches
// instead of one per batch, while emit still owns what it is given: a slice
// is never handed out twice or written after it was handed out. The cost is
// retention: a slice kept by emit keeps its whole chunk (arenaBatches *
// MaxBatch elements) reachable. Not safe for concurrent use (Run's goroutine).
type arena[T any] struct {
	buf   []T
	chunk int // elements per allocation (at least the request)
}

// take returns a zeroed slice of n elements with capacity n (appending to
// it reallocates rather than spilling into the next slice).
func (a *arena[T]) take(n int) []T {
	if len(a.buf) < n {
		a.buf = make([]T, max(n, a.chunk))
	}
	s := a.buf[:n:n]
	a.buf = a.buf[n:]
	return s
}
