package inference

import (
	"sync"
	"time"

	"github.com/edgepm/edgepm/inference/features"
)

// model is one validated, loaded model. Its scorer is destroyed when the
// model is retired (replaced) and no queued row references it any more.
type model struct {
	man    *Manifest
	id     string
	plan   *features.Plan
	window features.WindowConfig
	sc     *scorer
	loaded time.Time
	feats  featArena // the rows' feature vectors

	mu      sync.Mutex
	refs    int
	retired bool
	onFree  func() // called once after the scorer is destroyed
}

// acquire takes a reference unless the model is retired.
func (m *model) acquire() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.retired {
		return false
	}
	m.refs++
	return true
}

// release drops n references, destroying the scorer when the model is
// retired and unreferenced.
func (m *model) release(n int) {
	m.mu.Lock()
	m.refs -= n
	free := m.retired && m.refs == 0
	m.mu.Unlock()
	if free {
		m.free()
	}
}

// retire marks the model replaced; new references are refused and the
// scorer is destroyed once in-flight rows are scored.
func (m *model) retire() {
	m.mu.Lock()
	if m.retired {
		m.mu.Unlock()
		return
	}
	m.retired = true
	free := m.refs == 0
	m.mu.Unlock()
	if free {
		m.free()
	}
}

func (m *model) free() {
	m.sc.destroy()
	if m.onFree != nil {
		m.onFree()
	}
}
