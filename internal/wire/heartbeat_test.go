package wire

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// A heartbeat record is keyed by its gateway (the compaction key), carries
// the schema header and round-trips through JSON; a value JSON cannot carry
// is an error naming the gateway, not a lost or half-written record.
func TestHeartbeatRecord(t *testing.T) {
	now := time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)
	hb := Heartbeat{V: HeartbeatSchema, Gateway: "gw-7", TS: now, IntervalSeconds: 30, StartedAt: now.Add(-time.Hour),
		Model: &HeartbeatModel{Name: "m", Version: "3", State: "active"}, Conditions: []string{}}
	r, err := HeartbeatRecord(&hb)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stream != StreamGateways || string(r.Key) != "gw-7" || !r.Time.Equal(now) ||
		len(r.Headers) != 1 || r.Headers[0].Key != HeaderSchema {
		t.Fatalf("record %+v", r)
	}
	var back Heartbeat
	if err := json.Unmarshal(r.Value, &back); err != nil || back.Gateway != "gw-7" || back.Model.Version != "3" ||
		!back.StartedAt.Equal(hb.StartedAt) {
		t.Fatalf("value %s: %+v, %v", r.Value, back, err)
	}
	bad := math.NaN()
	hb.Shadow = &HeartbeatShadow{MeanAbsDiff: &bad}
	if _, err := HeartbeatRecord(&hb); err == nil || !strings.Contains(err.Error(), "gateway gw-7") {
		t.Fatalf("NaN: %v, want an error naming the gateway", err)
	}
}
