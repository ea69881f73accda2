package buffer

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
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

// dropEvent is the Detail of a buffer.dropped event, plus the envelope's TS.
type dropEvent struct {
	TS       int64
	Stream   string `json:"stream"`
	Reason   string `json:"reason"`
	Records  uint64 `json:"records"`
	Bytes    int64  `json:"bytes"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Since    int64  `json:"since"`
}

// decodeEvents returns the test events of type typ in the events stream,
// checking that each record's time is its event's ts.
func decodeEvents(t *testing.T, q *Queue, typ string) []testEvent {
	t.Helper()
	recs, err := q.Read(StreamEvents, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []testEvent
	for _, r := range recs {
		var ev testEvent
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("event %s: %v", r.Value, err)
		}
		if ev.TS != r.Time.UnixMilli() || string(r.Key) != "gw" {
			t.Fatalf("event %s (key %q, time %v)", r.Value, r.Key, r.Time)
		}
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// detailAs re-decodes an event's Detail into v.
func detailAs(t *testing.T, ev testEvent, v any) {
	t.Helper()
	b, _ := json.Marshal(ev.Detail)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("detail %s: %v", b, err)
	}
}

func dropEvents(t *testing.T, q *Queue) []dropEvent {
	t.Helper()
	var out []dropEvent
	for _, ev := range decodeEvents(t, q, evDropped) {
		d := dropEvent{TS: ev.TS}
		detailAs(t, ev, &d)
		out = append(out, d)
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
	var b uint64
	for i := range 15 {
		r := appendN(t, q, StreamDeadletter, i, 1)
		if i == 0 {
			b = r[0].Seq - 1
		}
	}
	got, _ := q.Read(StreamDeadletter, 0, 100)
	if len(got) != 10 || got[0].Seq != b+6 {
		t.Fatalf("kept %d records, first seq %d", len(got), got[0].Seq)
	}
	st := q.Stats().Streams[StreamDeadletter]
	if st.Dropped != 5 || st.Bytes > 10*size {
		t.Fatalf("stats %+v", st)
	}
	if err := q.maintainNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := counterValue(t, reg, "edgepm_buffer_records_dropped_total", StreamDeadletter); v != 5 {
		t.Fatalf("metric = %v", v)
	}
	_ = q.Close() // flushes the coalesced drop event
	q = openTestQueue(t, q.Path(), Options{})
	// The first drop is reported at once, later ones coalesced per interval.
	evs := dropEvents(t, q)
	var n, next uint64 = 0, b + 1
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
	waiting := make(chan struct{}, 1)
	q2 := newTestQueue(t, Options{
		Streams:  map[string]StreamOptions{StreamAlerts: {MaxBytes: 3 * size}},
		FullWait: WaitForever,
		waiting:  func() { waiting <- struct{}{} },
	})
	first := appendN(t, q2, StreamAlerts, 0, 3)[0].Seq
	done := make(chan error, 1)
	go func() { done <- q2.Append(context.Background(), []Record{rec(StreamAlerts, 3)}) }()
	<-waiting // it found no room and waits
	select {
	case err := <-done:
		t.Fatalf("append did not block: %v", err)
	default:
	}
	if err := q2.Ack(StreamAlerts, first); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("blocked append: %v", err)
	}
	if st := q2.Stats().Streams[StreamAlerts]; st.Dropped != 0 || st.LastSeq != first+3 {
		t.Fatalf("alerts %+v", st)
	}
	if h := q2.Health(); len(h) != 0 {
		t.Fatalf("health after space %+v", h)
	}
}

func TestBlockedAppendCtxAndClose(t *testing.T) {
	size := recSize(rec(StreamAlerts, 0))
	waiting := make(chan struct{}, 1)
	q := newTestQueue(t, Options{Streams: map[string]StreamOptions{StreamAlerts: {MaxBytes: size}}, FullWait: WaitForever,
		waiting: func() { waiting <- struct{}{} }})
	appendN(t, q, StreamAlerts, 0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-waiting
		cancel() // ends the wait of a blocked append
	}()
	if err := q.Append(ctx, []Record{rec(StreamAlerts, 1)}); !errors.Is(err, ErrFull) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- q.Append(context.Background(), []Record{rec(StreamAlerts, 1)}) }()
	<-waiting
	_ = q.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("err after close = %v", err)
	}
}

// Readings are dropped oldest first at the whole-buffer cap; alerts and
// events are never dropped for them, and readings cannot push out anything
// else. Because the caps of the streams above readings sum to less than the
// buffer cap, a record of any stream under its own cap always finds room by
// dropping readings only.
func TestBufferCapPriorities(t *testing.T) {
	size := recSize(rec(StreamReadings, 0))
	q := newTestQueue(t, Options{MaxBytes: 40 * size, FullWait: 20 * time.Millisecond, DropEventInterval: time.Hour,
		Streams: map[string]StreamOptions{
			StreamAlerts: {MaxBytes: 12 * size}, StreamEvents: {MaxBytes: 8 * size},
			StreamPredictions: {MaxBytes: 10 * size}, StreamDeadletter: {MaxBytes: 2 * size},
		}})
	appendN(t, q, StreamAlerts, 0, 5)
	appendN(t, q, StreamPredictions, 0, 5)
	for i := range 40 {
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
	if r.Records < 5 || r.Dropped == 0 || r.LastSeq-r.FirstSeq+1 != uint64(r.Records) || r.Appended != uint64(r.Records)+r.Dropped {
		t.Fatalf("readings %+v", r)
	}
	if e := s.Streams[StreamEvents]; e.Records == 0 || e.Dropped != 0 {
		t.Fatalf("events %+v", e)
	}
	// Alerts up to their cap push out readings only.
	appendN(t, q, StreamAlerts, 5, 7)
	s = q.Stats()
	if s.Streams[StreamAlerts].Records != 12 || s.Streams[StreamPredictions].Records != 5 ||
		s.Streams[StreamReadings].Dropped <= r.Dropped {
		t.Fatalf("after alerts: %+v", s.Streams)
	}
	// Readings may use free room but never displace anything else.
	before := q.Stats().Streams
	for i := range 100 {
		appendN(t, q, StreamReadings, 100+i, 1)
	}
	after := q.Stats().Streams
	for _, name := range []string{StreamAlerts, StreamPredictions, StreamEvents} {
		if after[name].Records != before[name].Records || after[name].Dropped != 0 {
			t.Fatalf("%s changed: %+v -> %+v", name, before[name], after[name])
		}
	}
}

// The streams above the lowest priority must all be capped, with caps
// summing to less than MaxBytes; the error names the fields and values.
func TestOptionsCapValidation(t *testing.T) {
	const mib = 1 << 20
	cases := map[string]struct {
		opts Options
		want string // "" = valid
	}{
		"defaults":       {Options{}, ""},
		"small defaults": {Options{MaxBytes: 64 << 10}, ""},
		"uncapped predictions": {Options{Streams: map[string]StreamOptions{StreamPredictions: {MaxBytes: -1}}},
			"buffer.streams.predictions.max_bytes: a stream above the lowest priority (10) needs a cap " +
				"so the lowest-priority streams can always make room at buffer.max_bytes, got -1 (no cap)"},
		"caps sum to the buffer cap": {Options{MaxBytes: 100 * mib, Streams: map[string]StreamOptions{
			StreamAlerts: {MaxBytes: 40 * mib}, StreamEvents: {MaxBytes: 10 * mib},
			StreamPredictions: {MaxBytes: 40 * mib}, StreamDeadletter: {MaxBytes: 10 * mib}}},
			"buffer.streams: the caps of the streams above the lowest priority (10) must sum to less than " +
				"buffer.max_bytes=104857600, got 104857600 (alerts.max_bytes=41943040 + deadletter.max_bytes=10485760 + " +
				"events.max_bytes=10485760 + predictions.max_bytes=41943040)"},
		"readings raised above an uncapped custom stream": {Options{Streams: map[string]StreamOptions{
			"spool": {Priority: 5}}},
			"buffer.streams.readings.max_bytes: a stream above the lowest priority (5) needs a cap " +
				"so the lowest-priority streams can always make room at buffer.max_bytes, got -1 (no cap)"},
		"custom stream shares the lowest priority": {Options{Streams: map[string]StreamOptions{"spool": {}}}, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.opts.withDefaults().validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || err.Error() != c.want {
				t.Fatalf("error\n got %v\nwant %s", err, c.want)
			}
			if _, err := Open(filepath.Join(t.TempDir(), "b.db"), c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v", err)
			}
		})
	}
	// The defaults scale with MaxBytes and stay absolute where documented.
	d := Options{}.withDefaults().Streams
	if d[StreamPredictions].MaxBytes != 128*mib || d[StreamAlerts].MaxBytes != 32*mib ||
		d[StreamEvents].MaxBytes != 16*mib || d[StreamDeadletter].MaxBytes != 32*mib || d[StreamReadings].MaxBytes != -1 {
		t.Fatalf("default caps %+v", d)
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
