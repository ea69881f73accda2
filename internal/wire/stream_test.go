package wire

import (
	"testing"
	"time"

	"github.com/edgepm/edgepm/buffer"
)

// Every value this package encodes names its own stream, so the buffer's
// salvage can put a record found on an orphaned page back where it was.
func TestStreamOf(t *testing.T) {
	now := time.Now()
	cases := map[string][]byte{
		buffer.StreamReadings: AppendReading(nil, &Reading{V: Version, Gateway: "gw", Device: "pump-1",
			TS: 1, Received: 2, Values: map[string]float64{"t": 1}}, nil),
		buffer.StreamPredictions: AppendPrediction(nil, &Prediction{V: Version, Gateway: "gw", Device: "pump-1",
			Model: "m", ModelVersion: "1", TS: 1, Score: 0.5, FeatureHash: "h"}),
		buffer.StreamAlerts: MustJSON(Alert{V: Version, Gateway: "gw", Device: "pump-1", State: "raised",
			Score: 0.9, Threshold: 0.8, TS: 1}),
		buffer.StreamDeadletter: MustJSON(DeadLetter{V: Version, Gateway: "gw", Topic: "t", Reason: "wrong_type",
			Payload: []byte("x"), PayloadBytes: 1}),
		buffer.StreamEvents: DroppedEvent("gw", buffer.DropReport{Stream: "readings", Reason: "ttl", At: now}).Value,
		StreamGateways:      heartbeatValue(t, now),
	}
	for want, v := range cases {
		if got, ok := StreamOf(buffer.Record{Value: v}); !ok || got != want {
			t.Errorf("StreamOf(%s) = %q, %v; want %q", v, got, ok, want)
		}
	}
	for _, v := range []string{``, `not json`, `[]`, `{"i":1}`, `{"v":1,"gateway":"gw"}`} {
		if got, ok := StreamOf(buffer.Record{Value: []byte(v)}); ok {
			t.Errorf("StreamOf(%q) = %q, want not ok", v, got)
		}
	}
}

func heartbeatValue(t *testing.T, now time.Time) []byte {
	t.Helper()
	r, err := HeartbeatRecord(&Heartbeat{V: HeartbeatSchema, Gateway: "gw", TS: now, IntervalSeconds: 30,
		StartedAt: now, Conditions: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return r.Value
}
