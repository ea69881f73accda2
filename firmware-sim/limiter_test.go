package sim

import (
	"context"
	"testing"
	"time"
)

// fakeClock advances only when the limiter sleeps.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return nil
}

func TestLimiterRate(t *testing.T) {
	c := &fakeClock{now: time.Unix(1000, 0)}
	l := NewLimiter(10000)
	l.Now, l.Sleep = c.Now, c.Sleep
	start := c.now
	for range 50000 {
		if err := l.Wait(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	// 50,000 messages at 10,000/s: the last is due at 4.9999s.
	if got := c.now.Sub(start); got < 4990*time.Millisecond || got > 5*time.Second {
		t.Fatalf("50000 msgs took %v of simulated time", got)
	}
}

func TestLimiterUnlimitedAndCancel(t *testing.T) {
	l := NewLimiter(0)
	for range 1000 {
		if err := l.Wait(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l = NewLimiter(1)
	l.Wait(ctx, 1)
	if err := l.Wait(ctx, 1); err == nil {
		t.Fatal("cancelled wait returned nil")
	}
}

// With RateDevices, the publisher scales the rate to the readings per tick:
// machines added part-way keep simulated time at its pace.
func TestPaceScalesWithMachinesInService(t *testing.T) {
	p := &Publisher{cfg: PublisherConfig{Rate: 10, RateDevices: 2}, limiter: NewLimiter(10)}
	for _, c := range []struct {
		n    int
		want float64
	}{{2, 10}, {2, 10}, {4, 20}, {4, 20}, {3, 15}} {
		p.pace(c.n)
		if got := p.limiter.Rate(); got != c.want {
			t.Fatalf("%d readings per tick: rate %g, want %g", c.n, got, c.want)
		}
	}
	fixed := &Publisher{cfg: PublisherConfig{Rate: 10}, limiter: NewLimiter(10)}
	fixed.pace(4)
	if fixed.limiter.Rate() != 10 {
		t.Fatalf("without RateDevices the rate moved: %g", fixed.limiter.Rate())
	}
}
