package edge

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

// The appliance's queue reports its drops as buffer.dropped events of the
// gateway, in the events stream, as the buffer used to write them itself.
func TestQueueDropsBecomeEvents(t *testing.T) {
	small := buffer.Record{Stream: buffer.StreamDeadletter, Key: []byte("d"), Value: []byte(`{"x":1}`)}
	q, err := buffer.Open(filepath.Join(t.TempDir(), "buffer.db"), withEventReports(buffer.Options{NoSync: true,
		Streams: map[string]buffer.StreamOptions{buffer.StreamDeadletter: {MaxBytes: 200}}}, "gw-1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	for range 4 {
		if err := q.Append(context.Background(), []buffer.Record{small}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := q.Read(buffer.StreamEvents, 0, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("events %d (%v), want the first drop reported at once", len(recs), err)
	}
	r := recs[0]
	var ev wire.Event
	if err := json.Unmarshal(r.Value, &ev); err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "gw-1" || len(r.Headers) != 1 || r.Headers[0].Key != wire.HeaderSchema ||
		ev.V != wire.Version || ev.Gateway != "gw-1" || ev.Type != wire.EventBufferDropped || ev.TS != r.Time.UnixMilli() ||
		ev.Detail["stream"] != buffer.StreamDeadletter || ev.Detail["reason"] != buffer.ReasonStreamCap {
		t.Fatalf("event %s (key %q, headers %v)", r.Value, r.Key, r.Headers)
	}
}
