package buffer

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestNewEventRecord(t *testing.T) {
	ts := time.Date(2025, 11, 21, 12, 0, 10, 123456789, time.UTC)
	r := NewEventRecord("gw-7", "uplink.online", ts, map[string]any{"broker": "k1:9092", "n": 3})
	if r.Stream != StreamEvents || string(r.Key) != "gw-7" || !r.Time.Equal(ts) || r.Seq != 0 {
		t.Fatalf("record %+v", r)
	}
	if len(r.Headers) != 1 || r.Headers[0].Key != "edgepm-schema" || string(r.Headers[0].Value) != "1" {
		t.Fatalf("headers %+v", r.Headers)
	}
	want := `{"v":1,"gateway":"gw-7","type":"uplink.online","ts":1763726410123,"detail":{"broker":"k1:9092","n":3}}`
	if string(r.Value) != want {
		t.Fatalf("value\n got %s\nwant %s", r.Value, want)
	}
	// No detail: the field is left out. A value JSON cannot encode is kept as text.
	if r := NewEventRecord("gw", "gateway.started", ts, nil); string(r.Value) != `{"v":1,"gateway":"gw","type":"gateway.started","ts":1763726410123}` {
		t.Fatalf("no detail: %s", r.Value)
	}
	r = NewEventRecord("gw", "x.y", ts, map[string]any{"bad": math.NaN(), "ok": 1})
	var ev Event
	if err := json.Unmarshal(r.Value, &ev); err != nil || ev.Detail["bad"] != "NaN" || ev.Detail["ok"] != 1.0 {
		t.Fatalf("unencodable detail: %s (%v)", r.Value, err)
	}
	// Two records never share the header slice (a caller may append to it).
	a, b := NewEventRecord("gw", "a.b", ts, nil), NewEventRecord("gw", "a.b", ts, nil)
	a.Headers[0].Value[0] = 'x'
	if string(b.Headers[0].Value) != "1" {
		t.Fatal("header value shared between records")
	}
}

// TestQueueEventsUseEnvelope: the queue's own drop events are Event v1 records
// keyed by Options.EventKey, and a NewEventRecord round-trips through Append.
func TestQueueEventsUseEnvelope(t *testing.T) {
	size := recSize(rec(StreamDeadletter, 0))
	q := newTestQueue(t, Options{EventKey: []byte("gw-1"), Streams: map[string]StreamOptions{
		StreamDeadletter: {MaxBytes: 2 * size}}})
	for i := range 3 {
		appendN(t, q, StreamDeadletter, i, 1) // the third drops one: an event at once
	}
	in := NewEventRecord("gw-1", "gateway.started", time.Now(), map[string]any{"version": "dev"})
	if err := q.Append(context.Background(), []Record{in}); err != nil {
		t.Fatal(err)
	}
	drops := decodeEvents(t, q, EventDropped) // checks the envelope of every record
	started := decodeEvents(t, q, "gateway.started")
	if len(drops) != 1 || drops[0].Gateway != "gw-1" || drops[0].Detail["stream"] != StreamDeadletter ||
		drops[0].Detail["reason"] != ReasonStreamCap || drops[0].Detail["records"] != 1.0 {
		t.Fatalf("drop events %+v", drops)
	}
	if len(started) != 1 || started[0].Detail["version"] != "dev" {
		t.Fatalf("started events %+v", started)
	}
}
