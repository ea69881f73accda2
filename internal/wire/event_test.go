package wire

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/edgepm/edgepm/buffer"
)

func TestEventRecord(t *testing.T) {
	ts := time.Date(2025, 11, 21, 12, 0, 10, 123456789, time.UTC)
	r := EventRecord("gw-7", EventUplinkOnline, ts, map[string]any{"broker": "k1:9092", "n": 3})
	if r.Stream != buffer.StreamEvents || string(r.Key) != "gw-7" || !r.Time.Equal(ts) || r.Seq != 0 {
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
	if r := EventRecord("gw", EventGatewayStarted, ts, nil); string(r.Value) != `{"v":1,"gateway":"gw","type":"gateway.started","ts":1763726410123}` {
		t.Fatalf("no detail: %s", r.Value)
	}
	r = EventRecord("gw", "x.y", ts, map[string]any{"bad": math.NaN(), "ok": 1})
	var ev Event
	if err := json.Unmarshal(r.Value, &ev); err != nil || ev.Detail["bad"] != "NaN" || ev.Detail["ok"] != 1.0 {
		t.Fatalf("unencodable detail: %s (%v)", r.Value, err)
	}
	// Two records never share the header slice (a caller may append to it).
	a, b := EventRecord("gw", "a.b", ts, nil), EventRecord("gw", "a.b", ts, nil)
	a.Headers[0].Value[0] = 'x'
	if string(b.Headers[0].Value) != "1" || string(SchemaHeaders()[0].Value) != "1" {
		t.Fatal("header value shared between records")
	}
}

// The buffer's reports become the events the buffer itself used to write,
// byte for byte.
func TestBufferReportEvents(t *testing.T) {
	at := time.UnixMilli(1763726410123)
	d := DroppedEvent("gw-1", buffer.DropReport{Stream: "readings", Reason: buffer.ReasonBufferCap, Records: 3,
		Bytes: 600, FirstSeq: 10, LastSeq: 12, Since: time.UnixMilli(1763726400000), At: at})
	want := `{"v":1,"gateway":"gw-1","type":"buffer.dropped","ts":1763726410123,"detail":{"bytes":600,"first_seq":10,` +
		`"last_seq":12,"reason":"buffer_cap","records":3,"since":1763726400000,"stream":"readings"}}`
	if string(d.Value) != want || string(d.Key) != "gw-1" || d.Stream != buffer.StreamEvents || !d.Time.Equal(at) {
		t.Fatalf("dropped\n got %s\nwant %s", d.Value, want)
	}
	r := RecoveredEvent("gw-1", buffer.RecoveryReport{MovedTo: "/d/buffer.db.corrupt-1", Err: errors.New("bad magic"),
		Salvaged: 5, Unreadable: 1, SeqJumped: true, At: at})
	want = `{"v":1,"gateway":"gw-1","type":"buffer.recovered","ts":1763726410123,"detail":{"error":"bad magic",` +
		`"moved_to":"/d/buffer.db.corrupt-1","salvaged_records":5,"seq_jumped":true,"unreadable_records":1}}`
	if string(r.Value) != want {
		t.Fatalf("recovered\n got %s\nwant %s", r.Value, want)
	}
}

func TestModelHeaders(t *testing.T) {
	h := ModelHeaders("pm", "3")
	if len(h) != 2 || h[0].Key != HeaderSchema || string(h[0].Value) != "1" || h[1].Key != HeaderModel || string(h[1].Value) != "pm:3" {
		t.Fatalf("headers %+v", h)
	}
}
