package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// outageFor is 3 s by default; EDGEPM_OUTAGE=30s runs the 30 s cut.
func outageFor(t *testing.T) time.Duration {
	if s := os.Getenv("EDGEPM_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("EDGEPM_OUTAGE: %v", err)
		}
		return d
	}
	return 3 * time.Second
}

// writer appends readings for 20 devices until stopped.
type writer struct {
	q       *buffer.Queue
	mu      sync.Mutex
	counter map[string]int
	total   atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startWriter(t *testing.T, q *buffer.Queue) *writer {
	w := &writer{q: q, counter: map[string]int{}, stop: make(chan struct{})}
	w.wg.Go(func() {
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			w.mu.Lock()
			appendReadings(t, q, buffer.StreamReadings, 20, 10, w.counter)
			w.mu.Unlock()
			w.total.Add(10)
		}
	})
	return w
}

func (w *writer) halt() int {
	close(w.stop)
	w.wg.Wait()
	return int(w.total.Load())
}

func TestProducerSurvivesBrokerOutage(t *testing.T) {
	srv := testenv.StartKafka(t)
	q := newTestQueue(t)
	cfg := testConfig(srv.Seeds())
	cfg.MaxInFlight = 2000
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)
	base := lastSeq(q, buffer.StreamReadings)
	w := startWriter(t, q)

	readingsAcked := func() uint64 { return p.Status().Streams[len(p.Status().Streams)-1].Acked }
	waitFor(t, 10*time.Second, "first acknowledgements", func() bool { return readingsAcked() > 500 })
	srv.Stop()
	cut := time.Now()
	waitFor(t, 10*time.Second, "offline", func() bool { return p.Status().State == StateOffline })
	heldDuring := bufferRecords(q, buffer.StreamReadings)
	time.Sleep(outageFor(t) - time.Since(cut))
	srv.Start()
	waitFor(t, 20*time.Second, "online", func() bool { return p.Status().Online })
	time.Sleep(500 * time.Millisecond)
	total := w.halt()
	waitFor(t, 30*time.Second, "buffer emptied", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })
	if heldDuring == 0 {
		t.Fatalf("nothing was buffered during the outage")
	}

	recs := consume(t, srv.Seeds(), total, 30*time.Second, "edgepm.readings")
	st := p.Status()
	stop()
	checkDelivery(t, recs, base, total, cfg.MaxInFlight)
	t.Logf("outage %s: %d records, %d consumed (dups %d), status %+v", outageFor(t), total, len(recs), len(recs)-total, st.Backlog)

	evs := consume(t, srv.Seeds(), 2, 10*time.Second, "edgepm.events")
	types := map[string]bool{}
	for _, e := range evs {
		var ev wire.Event
		if err := json.Unmarshal([]byte(e.value), &ev); err != nil {
			t.Fatalf("event %q: %v", e.value, err)
		}
		types[ev.Type] = true
		if e.key != "gw-test" || ev.Gateway != "gw-test" || ev.V != wire.Version || ev.TS == 0 {
			t.Fatalf("event key %q gateway %q", e.key, ev.Gateway)
		}
	}
	if !types[wire.EventUplinkOffline] || !types[wire.EventUplinkOnline] {
		t.Fatalf("events %v", types)
	}
}

// checkDelivery: every seq base+1..base+total arrived, each device's
// records in order (first occurrences), duplicates no more than maxDup.
func checkDelivery(t *testing.T, recs []got, base uint64, total, maxDup int) {
	t.Helper()
	seen := map[uint64]bool{}
	lastN := map[string]int{}
	dups := 0
	for _, r := range recs {
		if seen[r.seq] {
			dups++
			continue
		}
		seen[r.seq] = true
		var v struct {
			N int `json:"n"`
		}
		if err := json.Unmarshal([]byte(r.value), &v); err != nil {
			t.Fatalf("value %q: %v", r.value, err)
		}
		if v.N <= lastN[r.key] {
			t.Fatalf("device %s: record %d after %d (seq %d, partition %d offset %d)", r.key, v.N, lastN[r.key], r.seq, r.partition, r.offset)
		}
		lastN[r.key] = v.N
	}
	for s := base + 1; s <= base+uint64(total); s++ {
		if !seen[s] {
			t.Fatalf("seq %d (%d of %d) missing", s, s-base, total)
		}
	}
	if dups > maxDup {
		t.Fatalf("%d duplicates, more than the %d that can be in flight", dups, maxDup)
	}
	_ = context.Background
	_ = fmt.Sprint
}
