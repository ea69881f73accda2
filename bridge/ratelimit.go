package bridge

import (
	"math"
	"sync"
	"time"
)

// tokenBucket limits backlog records and bytes per second, with a burst of
// one second's worth. A zero rate is unlimited. Safe for concurrent use:
// the pump takes tokens, SetBacklogLimits changes the rates.
type tokenBucket struct {
	mu                sync.Mutex
	recRate, byteRate float64
	recs, bytes       float64
	last              time.Time
}

func newTokenBucket(recRate, byteRate float64, now time.Time) *tokenBucket {
	return &tokenBucket{recRate: recRate, byteRate: byteRate, recs: recRate, bytes: byteRate, last: now}
}

func (b *tokenBucket) refill(now time.Time) {
	dt := now.Sub(b.last).Seconds()
	if dt <= 0 {
		return
	}
	b.last = now
	b.recs = math.Min(math.Max(b.recRate, 1), b.recs+dt*b.recRate)
	b.bytes = math.Min(math.Max(b.byteRate, 1), b.bytes+dt*b.byteRate)
}

// records returns how many records may go now (bytes are charged after the
// fact, so a byte limit only says yes or no).
func (b *tokenBucket) records(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	n := math.MaxInt32
	if b.recRate > 0 {
		n = int(b.recs)
	}
	if b.byteRate > 0 && b.bytes < 1 {
		n = 0
	}
	return n
}

// take charges n records of total size bytes.
func (b *tokenBucket) take(n, bytes int, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.recRate > 0 {
		b.recs -= float64(n)
	}
	if b.byteRate > 0 {
		b.bytes -= float64(bytes)
	}
}

// set changes the rates. Tokens above the new burst (one second) are cut;
// a limit that was off starts with a full burst.
func (b *tokenBucket) set(recRate, byteRate float64, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	b.recs = rebase(b.recs, b.recRate, recRate)
	b.bytes = rebase(b.bytes, b.byteRate, byteRate)
	b.recRate, b.byteRate = recRate, byteRate
}

func rebase(tokens, old, rate float64) float64 {
	if old <= 0 {
		return rate
	}
	return math.Min(tokens, math.Max(rate, 1))
}

// limits returns the current rates (0 = unlimited).
func (b *tokenBucket) limits() (recRate, byteRate float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recRate, b.byteRate
}
