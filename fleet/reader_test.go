package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/fleet"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// produce writes records synchronously to kfake.
func produce(t *testing.T, seeds []string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func rec(topic, key string, value []byte, at time.Time) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Timestamp: at}
}

// fleetRecords are a small fleet's records: three gateways (one then
// decommissioned, one silent for a minute), a canary pointer, an alert
// and an event.
func fleetRecords(t *testing.T) []*kgo.Record {
	return []*kgo.Record{
		rec("edgepm.gateways", "gw-a", mustJSON(t, heartbeat("gw-a", t0, "2")), t0),
		rec("edgepm.gateways", "line3-b", mustJSON(t, heartbeat("line3-b", t0.Add(-time.Minute), "1")), t0.Add(-time.Minute)),
		rec("edgepm.gateways", "gw-c", mustJSON(t, heartbeat("gw-c", t0, "1")), t0),
		rec("edgepm.gateways", "gw-c", nil, t0),
		rec("edgepm.models", "pump/2/manifest", []byte(`{"schema":1}`), t0),
		rec("edgepm.models", "pump", pointerValue(t, canaryRelease()), t0),
		rec("edgepm.alerts", "m1", mustJSON(t, wire.Alert{V: 1, Gateway: "gw-a", Device: "m1", Model: "pump", ModelVersion: "2",
			State: wire.AlertRaised, Score: 0.9, Threshold: 0.8, TS: t0.UnixMilli()}), t0),
		rec("edgepm.events", "gw-a", wire.EncodeEvent("gw-a", wire.EventModelActivated, t0, map[string]any{"model": "pump", "version": "2"}), t0),
		rec("edgepm.events", wire.EventSourceFleet, wire.EncodeEvent(wire.EventSourceFleet, wire.EventRolloutStarted, t0.Add(-time.Minute),
			map[string]any{"rollout": "r-7", "model": "pump", "version": "2", "state": "canary", "by": "alice"}), t0.Add(-time.Minute)),
	}
}

func checkSmallFleet(t *testing.T, f fleet.Fleet) {
	t.Helper()
	if !f.CaughtUp || len(f.Gateways) != 2 || f.Gateways[0].ID != "gw-a" || f.Gateways[1].ID != "line3-b" {
		t.Fatalf("caught up %v, gateways %+v: want gw-a and line3-b (gw-c decommissioned)", f.CaughtUp, f.Gateways)
	}
	if f.Gateways[0].Stale || !f.Gateways[1].Stale {
		t.Errorf("stale: gw-a %v line3-b %v, want false and true", f.Gateways[0].Stale, f.Gateways[1].Stale)
	}
	if len(f.Rollouts) != 1 || f.Rollouts[0].Targets != 2 || f.Rollouts[0].Updated != 1 {
		t.Errorf("rollouts %+v, want the canary with 1 of 2 updated", f.Rollouts)
	}
}

// CatchUp reads the state topics (three partitions of gateways) to their
// end, tombstones included.
func TestCatchUpFromKafka(t *testing.T) {
	k := testenv.StartKafka(t, kfake.SeedTopics(3, "edgepm.gateways"))
	produce(t, k.Seeds(), fleetRecords(t)...)
	v := newView(&clock{now: t0.Add(2 * time.Second)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := fleet.NewReader(bridge.Config{Brokers: k.Seeds()}, v, nil).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	checkSmallFleet(t, v.Snapshot())
}

// With no topics yet (no gateway ever ran) CatchUp returns an empty view.
func TestCatchUpEmpty(t *testing.T) {
	k := testenv.StartKafka(t)
	v := newView(&clock{now: t0})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := fleet.NewReader(bridge.Config{Brokers: k.Seeds()}, v, nil).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if f := v.Snapshot(); !f.CaughtUp || len(f.Gateways) != 0 {
		t.Errorf("%+v", f)
	}
}

// Run follows the topics: the recent alerts and events, then a heartbeat
// of a new gateway written while it runs.
func TestRunFollows(t *testing.T) {
	k := testenv.StartKafka(t, kfake.SeedTopics(3, "edgepm.gateways"))
	produce(t, k.Seeds(), fleetRecords(t)...)
	v := newView(&clock{now: t0.Add(2 * time.Second)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fleet.NewReader(bridge.Config{Brokers: k.Seeds()}, v, nil).Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	eventually(t, "caught up with 3 recent entries", func() bool { return v.CaughtUp() && len(v.Snapshot().Recent) == 3 })
	checkSmallFleet(t, v.Snapshot())
	produce(t, k.Seeds(), rec("edgepm.gateways", "gw-d", mustJSON(t, heartbeat("gw-d", t0, "2")), t0))
	eventually(t, "gw-d in the view", func() bool { return v.Len() == 3 })
}

// eventually waits up to 30 s for cond, checking every 20 ms.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
