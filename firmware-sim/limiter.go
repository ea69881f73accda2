package sim

import (
	"context"
	"time"
)

// Limiter paces messages to a target rate without a timer per message: it
// keeps an ideal schedule (message n is due at start + n/rate) and sleeps
// only when more than MinSleep ahead of it, so the average rate is exact
// and bursts stay short. A rate <= 0 means unlimited. Not safe for
// concurrent use.
type Limiter struct {
	rate  float64
	start time.Time
	n     float64
	// Now and Sleep default to the wall clock; tests inject fakes.
	Now      func() time.Time
	Sleep    func(ctx context.Context, d time.Duration) error
	MinSleep time.Duration // default 2ms
}

// NewLimiter returns a limiter for rate messages per second.
func NewLimiter(rate float64) *Limiter {
	return &Limiter{rate: rate, Now: time.Now, Sleep: sleepCtx, MinSleep: 2 * time.Millisecond}
}

// Rate returns the target rate (<= 0: unlimited).
func (l *Limiter) Rate() float64 { return l.rate }

// Wait blocks until n more messages may be sent, or ctx ends (then it
// returns ctx.Err()).
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l.rate <= 0 {
		return ctx.Err()
	}
	now := l.Now()
	if l.start.IsZero() {
		l.start = now
	}
	l.n += float64(n)
	due := l.start.Add(time.Duration((l.n - float64(n)) / l.rate * float64(time.Second)))
	if ahead := due.Sub(now); ahead >= l.MinSleep {
		return l.Sleep(ctx, ahead)
	}
	// Far behind schedule (a stall, a burst): do not catch up with a
	// burst of our own, drift the schedule instead.
	if behind := now.Sub(due); behind > time.Second {
		l.Reset()
	}
	return ctx.Err()
}

// SetRate changes the target rate from now on (the schedule restarts).
func (l *Limiter) SetRate(rate float64) {
	l.rate = rate
	l.Reset()
}

// Reset restarts the schedule from now: the rate applies from here on,
// without compensating for what was sent faster or slower before.
func (l *Limiter) Reset() {
	l.start = time.Time{}
	l.n = 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
