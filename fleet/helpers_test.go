package fleet_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/internal/wire"
)

// t0 is the test clock's start.
var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// clock is an injected clock the tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// heartbeat is a gateway's heartbeat as gwhb's gateways write it.
func heartbeat(id string, ts time.Time, version string) *wire.Heartbeat {
	agree := 0.95
	return &wire.Heartbeat{V: wire.HeartbeatSchema, Gateway: id, TS: ts, IntervalSeconds: 1, Version: "v1.2.3",
		StartedAt: ts.Add(-time.Hour), UptimeSeconds: 3600, Ready: true,
		Model:  &wire.HeartbeatModel{Name: "pump", Version: version, State: "active", Counter: 3},
		Shadow: &wire.HeartbeatShadow{Name: "pump", Version: "9", State: "active", Windows: 40, AlertAgreement: &agree},
		Uplink: wire.HeartbeatUplink{State: "online", BacklogRecords: 12, BacklogOldestAge: 0.5},
		Buffer: wire.HeartbeatBuffer{Bytes: 1 << 20, MaxBytes: 1 << 30}, AlertsActive: 1, Devices: 3,
		Ingest: wire.HeartbeatIngest{Connected: true, ReadingsPerSec: 30}, Conditions: []string{}}
}

// stoppedHeartbeat is the last heartbeat of a clean shutdown of a gateway
// serving no model.
func stoppedHeartbeat(id string, ts time.Time) *wire.Heartbeat {
	hb := heartbeat(id, ts, "1")
	hb.Model, hb.Shadow, hb.Ready, hb.Stopped = nil, nil, false, true
	hb.Uplink.State = "offline"
	return hb
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pointerValue is a schema 2 pointer of model pump carrying release r
// (unsigned here: the view does not verify; gateways do).
func pointerValue(t testing.TB, r *bridge.Release) []byte {
	t.Helper()
	return mustJSON(t, bridge.ModelEnvelope{Schema: 2, Name: r.Name, Version: r.Version, Published: r.Issued,
		ChunkSHA256: []string{}, Release: mustJSON(t, r)})
}

func canaryRelease() *bridge.Release {
	return &bridge.Release{Schema: 1, Name: "pump", Counter: 4, Action: bridge.ActionCanary, Version: "2", Stable: "1",
		Canary: &bridge.Selector{Gateways: []string{"gw-a"}, Globs: []string{"line3-*"}}, Rollout: "r-7", Issued: t0}
}
