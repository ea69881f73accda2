package edge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepm/edgepm/inference"
)

// History sizes: the last hour at one sample per historyStep, and the last
// historyAlerts alert transitions. Fixed: the rings never grow.
const (
	historyStep    = 10 * time.Second
	historySamples = 360
	historyAlerts  = 100
)

// sample is one point of the appliance's recent history. Rates are per
// second over the step that ends at t.
type sample struct {
	t                              time.Time
	readings, predictions, invalid float64 // per second
	backlogRecords                 int64
	backlogAge                     time.Duration
	bufferBytes                    int64
	uplink                         string // bridge state: connecting, online, offline
}

// gauges is what the sampler reads from the appliance at each step:
// monotonic counters (turned into rates here) and instantaneous values.
type gauges struct {
	readings, predictions, invalid int64 // counters since start
	backlogRecords                 int64
	backlogAge                     time.Duration
	bufferBytes                    int64
	uplink                         string
}

// alertEntry is one alert transition kept for the status page.
type alertEntry struct {
	device           string
	state            string // inference.AlertRaised or AlertCleared
	score, threshold float64
	t                time.Time
}

// history keeps the appliance's last hour in memory for /api/history:
// fixed-size rings of samples and of alert transitions, about 40 KB in
// all whatever the load. The sampler (run) is the only writer of samples;
// addAlert is called on inference's Run goroutine; snapshot from any.
// All methods are safe for concurrent use; none blocks beyond its mutex.
type history struct {
	invalid atomic.Int64 // invalid messages since start (ingest's decode goroutine adds)

	mu      sync.Mutex
	samples ring[sample]
	alerts  ring[alertEntry]
	last    gauges // the counters at the previous sample
	lastT   time.Time
}

func newHistory() *history {
	return &history{samples: newRing[sample](historySamples), alerts: newRing[alertEntry](historyAlerts)}
}

// run samples read() at every tick until ctx ends. The ticks come from the
// caller (a time.Ticker's channel in the App, a test's own channel), and
// so does the clock: run records the tick's time.
func (h *history) run(ctx context.Context, tick <-chan time.Time, read func() gauges) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick:
			h.record(now, read())
		}
	}
}

// record adds the sample for time now. The first call only sets the
// counters' base: a rate needs two readings.
func (h *history) record(now time.Time, g gauges) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev, prevT := h.last, h.lastT
	h.last, h.lastT = g, now
	if prevT.IsZero() {
		return
	}
	secs := now.Sub(prevT).Seconds()
	if secs <= 0 {
		return // a clock step backwards: skip, the next sample has a base again
	}
	rate := func(cur, old int64) float64 { return float64(max(cur-old, 0)) / secs }
	h.samples.push(sample{t: now, readings: rate(g.readings, prev.readings),
		predictions: rate(g.predictions, prev.predictions), invalid: rate(g.invalid, prev.invalid),
		backlogRecords: g.backlogRecords, backlogAge: g.backlogAge, bufferBytes: g.bufferBytes, uplink: g.uplink})
}

// addAlert keeps an alert transition (the oldest of historyAlerts goes).
func (h *history) addAlert(al *inference.AlertEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.alerts.push(alertEntry{device: al.Device, state: al.State, score: al.Score, threshold: al.Threshold, t: al.Time})
}

// snapshot copies the samples and alerts, oldest first.
func (h *history) snapshot() ([]sample, []alertEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.samples.items(), h.alerts.items()
}

// ring is a fixed-capacity ring buffer: push overwrites the oldest item
// once full. Not safe for concurrent use on its own.
type ring[T any] struct {
	buf  []T
	next int // where the next push goes
	n    int // items held, at most len(buf)
}

func newRing[T any](capacity int) ring[T] { return ring[T]{buf: make([]T, capacity)} }

func (r *ring[T]) push(v T) {
	r.buf[r.next] = v
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

// items returns a copy of the items, oldest first.
func (r *ring[T]) items() []T {
	out := make([]T, 0, r.n)
	start := (r.next - r.n + len(r.buf)) % len(r.buf)
	for i := range r.n {
		out = append(out, r.buf[(start+i)%len(r.buf)])
	}
	return out
}
