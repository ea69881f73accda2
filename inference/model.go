package inference

import (
	"sync/atomic"
	"time"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// model is one validated, loaded model. Its scorer is destroyed when the
// model is retired (replaced) and no queued row references it any more.
type model struct {
	man    *modelpkg.Manifest
	id     string
	plan   *features.Plan
	window features.WindowConfig
	sc     *scorer
	loaded time.Time
	feats  featArena   // the rows' feature vectors
	drift  driftSums   // the rows' feature sums (Observe side)
	recent driftWindow // the sums at the last drift report, and the interval it closed

	// refs counts references (queued rows and Observe calls in progress),
	// plus retiredBit once the model is replaced: the model is freed by
	// whoever brings it to exactly retiredBit.
	refs   atomic.Int64
	onFree func() // called once after the scorer is destroyed
}

const retiredBit = 1 << 62

// acquire takes a reference unless the model is retired.
func (m *model) acquire() bool {
	for {
		r := m.refs.Load()
		if r&retiredBit != 0 {
			return false
		}
		if m.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops n references, destroying the scorer when the model is
// retired and unreferenced.
func (m *model) release(n int) {
	if m.refs.Add(-int64(n)) == retiredBit {
		m.free()
	}
}

// retire marks the model replaced; new references are refused and the
// scorer is destroyed once in-flight rows are scored. Idempotent.
func (m *model) retire() {
	for {
		r := m.refs.Load()
		if r&retiredBit != 0 {
			return
		}
		if m.refs.CompareAndSwap(r, r|retiredBit) {
			if r == 0 {
				m.free()
			}
			return
		}
	}
}

func (m *model) free() {
	m.feats.destroy()
	m.sc.destroy()
	if m.onFree != nil {
		m.onFree()
	}
}
