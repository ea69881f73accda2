package bridge

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/testenv"
)

func TestTokenBucketSet(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newTokenBucket(100, 0, t0)
	if n := b.records(t0); n != 100 {
		t.Fatalf("burst %d, want 100", n)
	}
	b.take(100, 0, t0)
	b.set(10, 0, t0) // lower: no more tokens than the new burst
	if n := b.records(t0.Add(time.Second)); n != 10 {
		t.Fatalf("after lowering to 10/s: %d after 1 s, want 10", n)
	}
	b.set(0, 0, t0.Add(time.Second)) // off
	if n := b.records(t0.Add(time.Second)); n != math.MaxInt32 {
		t.Fatalf("unlimited: %d", n)
	}
	b.set(5, 1000, t0.Add(time.Second)) // on again: a full burst
	if n := b.records(t0.Add(time.Second)); n != 5 {
		t.Fatalf("after re-enabling at 5/s: %d, want 5", n)
	}
	b.take(1, 2000, t0.Add(time.Second))
	if n := b.records(t0.Add(time.Second)); n != 0 {
		t.Fatalf("byte limit exhausted but %d records allowed", n)
	}
	if r, br := b.limits(); r != 5 || br != 1000 {
		t.Fatalf("limits %v %v", r, br)
	}
}

// SetBacklogLimits is safe beside a running producer (the race detector
// checks it) and takes effect on a backlog that is draining: a backlog held
// back at 1 record/s drains once the limit is lifted. Invalid values keep
// the limit.
func TestProducerSetBacklogLimits(t *testing.T) {
	port := testenv.FreePort(t)
	seeds := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	q := newTestQueue(t)
	base := lastSeq(q, buffer.StreamReadings)
	appendReadings(t, q, buffer.StreamReadings, 5, 3000, map[string]int{})
	cfg := testConfig(seeds)
	cfg.ReadBatch = 100
	cfg.Backlog.RateLimit = 1
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runProducer(t, p)
	startKafkaOn(t, port)
	waitFor(t, 20*time.Second, "backlog draining", func() bool { return p.Status().Backlog.Draining })

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				p.SetBacklogLimits(float64(1+i+j%2), int64(j))
				_ = p.Status()
			}
		})
	}
	wg.Wait()
	p.SetBacklogLimits(1, 0)
	if n := bufferRecords(q, buffer.StreamReadings); n < 3000-100 {
		t.Fatalf("%d of 3000 records left while limited to 1 record/s", n)
	}
	p.SetBacklogLimits(-1, -5) // invalid: kept
	p.SetBacklogLimits(math.NaN(), 0)
	if b := p.Status().Backlog; b.RateLimit != 1 || b.ByteRateLimit != 0 {
		t.Fatalf("limits after invalid values: %v %v", b.RateLimit, b.ByteRateLimit)
	}

	p.SetBacklogLimits(0, 0)
	if b := p.Status().Backlog; b.RateLimit != 0 || b.ByteRateLimit != 0 {
		t.Fatalf("limits %v %v", b.RateLimit, b.ByteRateLimit)
	}
	recs := consume(t, seeds, 3000, 60*time.Second, "edgepm.readings")
	waitFor(t, 30*time.Second, "buffer emptied", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })
	checkDelivery(t, recs, base, 3000, 3000)
}
