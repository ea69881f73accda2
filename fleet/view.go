package fleet

import (
	"sync"
	"time"

	"github.com/edgepm/edgepm/bridge"
)

// Bounds and defaults of the view.
const (
	// StaleAfter is how many heartbeat intervals without a newer heartbeat
	// make a gateway stale.
	StaleAfter = 3
	// DefaultInterval is assumed for a heartbeat without interval_s
	// (fleet.heartbeat_interval's default).
	DefaultInterval = 30 * time.Second
	// DefaultMaxGateways bounds the gateways a view keeps (Options.MaxGateways).
	DefaultMaxGateways = 100_000
	// RecentMax is how many alerts and events the view keeps.
	RecentMax = 200
	// maxValueBytes bounds a heartbeat, pointer, alert or event value; a
	// larger one is ignored and counted as bad.
	maxValueBytes = 64 << 10
	// maxConditions bounds the conditions kept per gateway.
	maxConditions = 32
	maxIDLen      = 128
)

// Options configure a View. The zero value means the defaults.
type Options struct {
	// Now is the clock staleness is measured with. Default time.Now.
	Now func() time.Time
	// MaxGateways bounds the gateways kept; heartbeats of further gateways
	// are refused and counted (Counts.Refused). Default DefaultMaxGateways.
	MaxGateways int
}

// View is the fleet as the state topics tell it: the last heartbeat of
// every gateway, the release of every model's pointer, and the recent
// alerts and events. Its methods are safe for concurrent use and never
// block on anything but its own lock.
type View struct {
	mu          sync.Mutex
	now         func() time.Time
	maxGateways int
	gateways    map[string]*Gateway
	pointers    map[string]*pointer // model name -> its latest pointer
	recent      recentList
	bad         uint64
	refused     uint64
	caughtUp    bool
}

// pointer is what the view keeps of a model's pointer record.
type pointer struct {
	version   string
	published time.Time
	release   *bridge.Release // nil for a schema 1 pointer or an unreadable release
}

// NewView returns an empty view.
func NewView(o Options) *View {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxGateways <= 0 {
		o.MaxGateways = DefaultMaxGateways
	}
	return &View{now: o.Now, maxGateways: o.MaxGateways,
		gateways: map[string]*Gateway{}, pointers: map[string]*pointer{}}
}

// SetCaughtUp marks the view as complete: the state topics were read to
// the end they had when reading began.
func (v *View) SetCaughtUp() {
	v.mu.Lock()
	v.caughtUp = true
	v.mu.Unlock()
}

// CaughtUp reports whether SetCaughtUp was called.
func (v *View) CaughtUp() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.caughtUp
}

// Len is the number of gateways in the view.
func (v *View) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.gateways)
}

func (v *View) countBad() {
	v.mu.Lock()
	v.bad++
	v.mu.Unlock()
}
