package bridge

import (
	"sync"
	"testing"
	"time"
)

// manualClock is a clock that only the test moves, so assertions about
// rates and backoff are made on its time, never on the wall clock.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock(t0 time.Time) *manualClock { return &manualClock{t: t0} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d and returns the new time.
func (c *manualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// useClock makes c the producer's pump clock and restarts the backlog rate
// limit on it with a full burst. Call before Run.
func useClock(p *Producer, c *manualClock) {
	p.now = c.Now
	p.limiter = newTokenBucket(p.cfg.Backlog.RateLimit, float64(p.cfg.Backlog.ByteRateLimit), c.Now())
}

// driveClock advances c by step every few milliseconds of real time (the
// pump polls; it is never woken by the clock) and calls check with the
// clock's time elapsed since start after each step, until the returned stop
// is called. check runs on the driving goroutine (t.Errorf, not Fatalf).
func driveClock(t *testing.T, c *manualClock, step time.Duration, check func(elapsed time.Duration)) (stop func()) {
	t.Helper()
	start := c.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				check(c.Advance(step).Sub(start))
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}
