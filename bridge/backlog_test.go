package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// After an outage, devices without backlog go live at once while the
// backlog drains under its rate limit with the edgepm-backlog header; a
// device with backlog keeps its order (its new records follow its backlog).
func TestProducerLiveFirstAfterOutage(t *testing.T) {
	port := testenv.FreePort(t)
	seeds := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	q := newTestQueue(t)
	counter := map[string]int{}
	const backlog = 6000
	base := lastSeq(q, buffer.StreamReadings)
	appendReadings(t, q, buffer.StreamReadings, 5, backlog, counter) // dev-000..dev-004

	cfg := testConfig(seeds)
	const rate, live = 2000, 200
	cfg.Backlog.RateLimit = rate
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The rate limit is checked on the pump's clock, which only this test
	// moves (50 ms per step): at any moment the records dispatched are at
	// most the live ones plus one second's burst plus the rate times the
	// clock's elapsed time. An unlimited backlog would break that bound at
	// once: 6,000 records against 2,000 + 2,000/s.
	clk := newManualClock(time.Now())
	useClock(p, clk)
	stopClock := driveClock(t, clk, 50*time.Millisecond, func(elapsed time.Duration) {
		if sent, bound := readingsStatus(p).Sent, uint64(live+rate*(1+elapsed.Seconds())); sent > bound {
			t.Errorf("%d records dispatched after %s of pump clock: more than the rate limit allows (%d)", sent, elapsed, bound)
		}
	})
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "offline", func() bool { return p.Status().State == StateOffline })

	srv := startKafkaOn(t, port)
	waitFor(t, 10*time.Second, "draining", func() bool { return p.Status().Backlog.Draining })
	// Live: 10 devices, of which dev-000..dev-004 have backlog.
	appendReadings(t, q, buffer.StreamReadings, 10, live, counter)
	total := backlog + live

	recs := consume(t, srv.Seeds(), total, 30*time.Second, "edgepm.readings")
	stopClock()
	stop()
	checkDelivery(t, recs, base, total, 0)

	// Live records of devices without backlog came before the backlog's end.
	lastBacklogIdx, firstLiveIdx := -1, -1
	for i, r := range recs {
		_, bl := r.headers[wire.HeaderBacklog]
		switch {
		case r.seq <= base+backlog && !bl:
			t.Fatalf("backlog record seq %d without %s header", r.seq, wire.HeaderBacklog)
		case r.seq <= base+backlog:
			lastBacklogIdx = max(lastBacklogIdx, i)
		case r.key >= "dev-005" && bl:
			t.Fatalf("live record of %s (no backlog) marked backlog", r.key)
		case r.key >= "dev-005" && firstLiveIdx < 0:
			firstLiveIdx = i
		case r.key < "dev-005" && !bl:
			t.Fatalf("record of gated device %s sent on the live path", r.key)
		}
	}
	if firstLiveIdx < 0 || firstLiveIdx > lastBacklogIdx {
		t.Fatalf("live records did not overtake the backlog: first live at %d, last backlog at %d", firstLiveIdx, lastBacklogIdx)
	}
}
