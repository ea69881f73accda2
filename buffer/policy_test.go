package buffer

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 11, 21, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recSize is the stored size of rec(stream, i) for small i.
func recSize(r Record) int64 { return storedSize(encodedLen(&r)) }

func dropEvents(t *testing.T, q *Queue) []DropEvent {
	t.Helper()
	recs, err := q.Read(StreamEvents, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []DropEvent
	for _, r := range recs {
		var ev DropEvent
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("event %s: %v", r.Value, err)
		}
		if ev.Type == EventDropped {
			out = append(out, ev)
		}
	}
	return out
}

func TestStreamCapDropOldest(t *testing.T) {
	reg := prometheus.NewRegistry()
	size := recSize(rec(StreamDeadletter, 0))
	q := newTestQueue(t, Options{
		Streams:    map[string]StreamOptions{StreamDeadletter: {MaxBytes: 10 * size}},
		Registerer: reg,
	})
	for i := range 15 {
		appendN(t, q, StreamDeadletter, i, 1)
	}
	got, _ := q.Read(StreamDeadletter, 0, 100)
	if len(got) != 10 || got[0].Seq != 6 {
		t.Fatalf("kept %d records, first seq %d", len(got), got[0].Seq)
	}
	st := q.Stats().Streams[StreamDeadletter]
	if st.Dropped != 5 || st.Bytes > 10*size {
		t.Fatalf("stats %+v", st)
	}
	if err := q.maintainNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := counterValue(t, reg, "edgepm_buffer_dropped_records_total", StreamDeadletter); v != 5 {
		t.Fatalf("metric = %v", v)
	}
	_ = q.Close() // flushes the coalesced drop event
	q = openTestQueue(t, q.Path(), Options{})
	// The first drop is reported at once, later ones coalesced per interval.
	evs := dropEvents(t, q)
	var n, next uint64 = 0, 1
	for _, ev := range evs {
		if ev.Stream != StreamDeadletter || ev.Reason != ReasonStreamCap || ev.FirstSeq != next {
			t.Fatalf("drop event %+v", ev)
		}
		n += ev.Records
		next = ev.LastSeq + 1
	}
	if n != 5 || len(evs) > 2 {
		t.Fatalf("drop events %+v", evs)
	}
	if d := q.Stats().Streams[StreamDeadletter].Dropped; d != 5 {
		t.Fatalf("dropped after restart = %d", d)
	}
}

func TestBlockPolicyFullThenSpace(t *testing.T) {
	size := recSize(rec(StreamAlerts, 0))
	q := newTestQueue(t, Options{
		Streams:  map[string]StreamOptions{StreamAlerts: {MaxBytes: 3 * size}},
		FullWait: 50 * time.Millisecond,
	})
	appendN(t, q, StreamAlerts, 0, 3)
	err := q.Append(context.Background(), []Record{rec(StreamAlerts, 3)})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	if h := q.Health(); len(h) != 1 || h[0].Name != CondFull {
		t.Fatalf("health %+v", h)
	}
	// A blocked append proceeds as soon as an ack frees space.
	q2 := newTestQueue(t, Options{
		Streams:  map[string]StreamOptions{StreamAlerts: {MaxBytes: 3 * size}},
		FullWait: WaitForever,
	})
	appendN(t, q2, StreamAlerts, 0, 3)
	done := make(chan error, 1)
	go func() { done <- q2.Append(context.Background(), []Record{rec(StreamAlerts, 3)}) }()
	select {
	case err := <-done:
		t.Fatalf("append did not block: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := q2.Ack(StreamAlerts, 1); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("blocked append: %v", err)
	}
	if st := q2.Stats().Streams[StreamAlerts]; st.Dropped != 0 || st.LastSeq != 4 {
		t.Fatalf("alerts %+v", st)
	}
	if h := q2.Health(); len(h) != 0 {
		t.Fatalf("health after space %+v", h)
	}
}

func TestBlockedAppendCtxAndClose(t *testing.T) {
	size := recSize(rec(StreamAlerts, 0))
	q := newTestQueue(t, Options{Streams: map[string]StreamOptions{StreamAlerts: {MaxBytes: size}}, FullWait: WaitForever})
	appendN(t, q, StreamAlerts, 0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := q.Append(ctx, []Record{rec(StreamAlerts, 1)}); !errors.Is(err, ErrFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- q.Append(context.Background(), []Record{rec(StreamAlerts, 1)}) }()
	time.Sleep(20 * time.Millisecond)
	_ = q.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("err after close = %v", err)
	}
}

// Readings are dropped oldest first at the whole-buffer cap; alerts and
// events are never dropped for them, and readings cannot push out alerts.
func TestBufferCapPriorities(t *testing.T) {
	size := recSize(rec(StreamReadings, 0))
	q := newTestQueue(t, Options{MaxBytes: 20 * size, FullWait: 20 * time.Millisecond, DropEventInterval: time.Hour})
	appendN(t, q, StreamAlerts, 0, 5)
	appendN(t, q, StreamPredictions, 0, 5)
	for i := range 20 {
		appendN(t, q, StreamReadings, i, 1)
	}
	s := q.Stats()
	if s.Bytes > s.MaxBytes {
		t.Fatalf("bytes %d > cap %d", s.Bytes, s.MaxBytes)
	}
	if a := s.Streams[StreamAlerts]; a.Records != 5 || a.Dropped != 0 {
		t.Fatalf("alerts %+v", a)
	}
	if p := s.Streams[StreamPredictions]; p.Records != 5 || p.Dropped != 0 {
		t.Fatalf("predictions %+v (higher priority than readings)", p)
	}
	// The drop event (events outrank readings) also takes room from readings.
	r := s.Streams[StreamReadings]
	if r.Records < 5 || r.Dropped == 0 || r.FirstSeq != r.Dropped+1 || r.LastSeq != 20 {
		t.Fatalf("readings %+v", r)
	}
	if e := s.Streams[StreamEvents]; e.Records == 0 || e.Dropped != 0 {
		t.Fatalf("events %+v", e)
	}
	// Alerts push out readings, then predictions, never the reverse.
	appendN(t, q, StreamAlerts, 5, 12)
	s = q.Stats()
	if s.Streams[StreamReadings].Records != 0 || s.Streams[StreamPredictions].Dropped == 0 || s.Streams[StreamAlerts].Records != 17 {
		t.Fatalf("after alerts: %+v", s.Streams)
	}
	// Readings may use free room but never displace anything else.
	before := q.Stats().Streams
	var err error
	for i := 0; err == nil && i < 100; i++ {
		err = q.Append(context.Background(), []Record{rec(StreamReadings, 100+i)})
	}
	if err != nil {
		t.Fatalf("readings displacing older readings: %v", err)
	}
	after := q.Stats().Streams
	for _, name := range []string{StreamAlerts, StreamPredictions, StreamEvents} {
		if after[name].Records != before[name].Records {
			t.Fatalf("%s changed: %+v -> %+v", name, before[name], after[name])
		}
	}
	// With no readings to drop, a reading does not fit.
	q2 := newTestQueue(t, Options{MaxBytes: 5 * size, FullWait: 10 * time.Millisecond})
	appendN(t, q2, StreamAlerts, 0, 5)
	if err := q2.Append(context.Background(), []Record{rec(StreamReadings, 0)}); !errors.Is(err, ErrFull) {
		t.Fatalf("reading into a buffer full of alerts: err = %v", err)
	}
}

// counterValue sums the samples of a metric family with a stream label value.
func counterValue(t *testing.T, g prometheus.Gatherer, name, stream string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stream" && l.GetValue() == stream {
					sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return sum
}
