package inference

import "sync"

// featChunkRows is how many feature vectors one arena chunk holds.
const featChunkRows = 512

// featArena hands out a model's feature vectors from chunks of
// consecutive rows, so that rows queued one after another (Observe from one
// goroutine, the edge's case) sit next to each other in memory and Run
// copies a run of them into the input tensor with one copy instead of one
// per row; it also makes one allocation per chunk instead of one per row.
// Nothing is reused: a chunk is freed by the GC once no row refers to it.
// Safe for concurrent use.
type featArena struct {
	f     int
	mu    sync.Mutex
	chunk *featChunk
	next  int // next free row of chunk
}

type featChunk struct {
	data []float32 // featChunkRows vectors of f values
}

// take returns a zeroed vector of f values (capacity f: appending to it
// cannot reach the next row) and where it lives.
func (a *featArena) take() (feat []float32, c *featChunk, idx int32) {
	a.mu.Lock()
	if a.chunk == nil || a.next == featChunkRows {
		a.chunk, a.next = &featChunk{data: make([]float32, featChunkRows*a.f)}, 0
	}
	c, idx = a.chunk, int32(a.next)
	a.next++
	a.mu.Unlock()
	at := int(idx) * a.f
	return c.data[at : at+a.f : at+a.f], c, idx
}

// copyRows copies rows' feature vectors (f values each) to dst in order,
// one copy per run of rows that are adjacent in one chunk.
func copyRows(dst []float32, rows []row, f int) {
	for i := 0; i < len(rows); {
		c, idx := rows[i].chunk, int(rows[i].idx)
		j := i + 1
		if c != nil {
			for j < len(rows) && rows[j].chunk == c && int(rows[j].idx) == idx+j-i {
				j++
			}
		}
		if c != nil && j-i > 1 {
			copy(dst[i*f:j*f], c.data[idx*f:(idx+j-i)*f])
		} else {
			copy(dst[i*f:(i+1)*f], rows[i].feat)
		}
		i = j
	}
}
