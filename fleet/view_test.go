package fleet_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/fleet"
	"github.com/edgepm/edgepm/internal/wire"
)

func newView(c *clock) *fleet.View { return fleet.NewView(fleet.Options{Now: c.Now}) }

func gatewayOf(t *testing.T, f fleet.Fleet, id string) *fleet.Gateway {
	t.Helper()
	for i := range f.Gateways {
		if f.Gateways[i].ID == id {
			return &f.Gateways[i]
		}
	}
	return nil
}

// A gateway is stale once more than 3 of its intervals passed since its
// last heartbeat record, and fresh again with a newer one.
func TestStaleAfterThreeIntervals(t *testing.T) {
	c := &clock{now: t0}
	v := newView(c)
	if err := v.ApplyHeartbeat([]byte("gw-a"), mustJSON(t, heartbeat("gw-a", t0, "1")), t0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		stale bool
	}{{0, false}, {2900 * time.Millisecond, false}, {3 * time.Second, false}, {3001 * time.Millisecond, true}, {time.Hour, true}} {
		c.Set(t0.Add(tc.after))
		f := v.Snapshot()
		g := gatewayOf(t, f, "gw-a")
		if g.Stale != tc.stale || g.AgeSeconds != tc.after.Seconds() || (f.Counts.Stale == 1) != tc.stale {
			t.Errorf("%v after the heartbeat: stale %v age %v (counts %+v), want stale %v", tc.after, g.Stale, g.AgeSeconds, f.Counts, tc.stale)
		}
	}
	later := t0.Add(time.Hour)
	_ = v.ApplyHeartbeat([]byte("gw-a"), mustJSON(t, heartbeat("gw-a", later, "1")), later)
	if g := gatewayOf(t, v.Snapshot(), "gw-a"); g.Stale {
		t.Error("still stale after a new heartbeat")
	}
}

// A gateway whose last heartbeat is the stopped one of a clean shutdown is
// stopped, never stale, however old; a newer heartbeat (a restart) makes it
// an ordinary gateway again, stale in its turn if it then goes silent.
func TestStoppedIsNotStale(t *testing.T) {
	c := &clock{now: t0}
	v := newView(c)
	if err := v.ApplyHeartbeat([]byte("gw-a"), mustJSON(t, stoppedHeartbeat("gw-a", t0)), t0); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(24 * time.Hour))
	f := v.Snapshot()
	if g := gatewayOf(t, f, "gw-a"); !g.Stopped || g.Stale || f.Counts.Stopped != 1 || f.Counts.Stale != 0 {
		t.Fatalf("a day after a clean stop: %+v, counts %+v; want stopped, not stale", g, f.Counts)
	}
	var table strings.Builder
	if err := fleet.WriteTable(&table, f); err != nil || !strings.Contains(table.String(), "stopped") {
		t.Errorf("the table does not say stopped (%v):\n%s", err, table.String())
	}
	later := t0.Add(25 * time.Hour)
	_ = v.ApplyHeartbeat([]byte("gw-a"), mustJSON(t, heartbeat("gw-a", later, "1")), later)
	c.Set(later.Add(time.Minute))
	f = v.Snapshot()
	if g := gatewayOf(t, f, "gw-a"); g.Stopped || !g.Stale || f.Counts.Stopped != 0 {
		t.Fatalf("silent after a restart: %+v, counts %+v; want stale, not stopped", g, f.Counts)
	}
}

// Without interval_s the default (30 s) applies.
func TestStaleDefaultInterval(t *testing.T) {
	if fleet.IsStale(t0, 0, t0.Add(90*time.Second)) || !fleet.IsStale(t0, 0, t0.Add(91*time.Second)) {
		t.Error("a heartbeat without interval_s is not judged by 3 × 30 s")
	}
}

// A tombstone removes the gateway; the latest record wins, as compaction
// keeps it (a gateway whose clock went back is still followed); a bad value
// is counted and changes nothing.
func TestTombstoneLateAndBadHeartbeats(t *testing.T) {
	c := &clock{now: t0}
	v := newView(c)
	for _, id := range []string{"gw-a", "gw-b"} {
		if err := v.ApplyHeartbeat([]byte(id), mustJSON(t, heartbeat(id, t0, "2")), t0); err != nil {
			t.Fatal(err)
		}
	}
	_ = v.ApplyHeartbeat([]byte("gw-a"), mustJSON(t, heartbeat("gw-a", t0.Add(-time.Minute), "1")), t0.Add(-time.Minute))
	_ = v.ApplyHeartbeat([]byte("gw-a"), mustJSON(t, heartbeat("gw-a", t0.Add(-time.Second), "2")), t0.Add(-time.Second))
	if err := v.ApplyHeartbeat([]byte("gw-b"), nil, t0); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{[]byte("{"), []byte(`{"v":0}`), make([]byte, 70<<10)} {
		if err := v.ApplyHeartbeat([]byte("gw-a"), b, t0.Add(time.Second)); !errors.Is(err, fleet.ErrBadRecord) {
			t.Errorf("value %.20q: err %v, want ErrBadRecord", b, err)
		}
	}
	if err := v.ApplyHeartbeat(nil, []byte("{}"), t0); !errors.Is(err, fleet.ErrBadRecord) {
		t.Errorf("empty key: err %v", err)
	}
	f := v.Snapshot()
	if len(f.Gateways) != 1 || f.Gateways[0].ID != "gw-a" || f.Gateways[0].Model.Version != "2" || f.Gateways[0].AgeSeconds != 1 {
		t.Fatalf("gateways %+v, want gw-a on version 2, 1 s old, only", f.Gateways)
	}
	if f.Counts.BadRecords != 4 {
		t.Errorf("bad records %d, want 4", f.Counts.BadRecords)
	}
}

// The view refuses gateways beyond its bound and counts them.
func TestMaxGateways(t *testing.T) {
	v := fleet.NewView(fleet.Options{Now: (&clock{now: t0}).Now, MaxGateways: 2})
	for i := range 3 {
		id := fmt.Sprintf("gw-%d", i)
		err := v.ApplyHeartbeat([]byte(id), mustJSON(t, heartbeat(id, t0, "1")), t0)
		if (err != nil) != (i == 2) {
			t.Errorf("gateway %d: err %v", i, err)
		}
	}
	if f := v.Snapshot(); len(f.Gateways) != 2 || f.Counts.Refused != 1 {
		t.Errorf("%d gateways, %d refused; want 2 and 1", len(f.Gateways), f.Counts.Refused)
	}
}

// The per-model summary counts gateways per version and per shadow version.
func TestModelUsage(t *testing.T) {
	c := &clock{now: t0}
	v := newView(c)
	for i, ver := range []string{"1", "2", "2"} {
		id := fmt.Sprintf("gw-%d", i)
		_ = v.ApplyHeartbeat([]byte(id), mustJSON(t, heartbeat(id, t0.Add(time.Duration(i)*time.Minute), ver)), t0.Add(time.Duration(i)*time.Minute))
	}
	c.Set(t0.Add(122 * time.Second)) // gw-0 and gw-1 stale, gw-2 2 s old
	f := v.Snapshot()
	want := []fleet.VersionCount{{Version: "2", Gateways: 2, Stale: 1}, {Version: "1", Gateways: 1, Stale: 1}}
	if len(f.Models) != 1 || fmt.Sprint(f.Models[0].Versions) != fmt.Sprint(want) ||
		len(f.Models[0].Shadows) != 1 || f.Models[0].Shadows[0].Gateways != 3 {
		t.Errorf("models %+v, want pump %v with 3 shadowing 9", f.Models, want)
	}
}

// A canary release's progress counts the canary gateways only: those on
// the new version and active, and those that rejected it.
func TestRolloutProgress(t *testing.T) {
	c := &clock{now: t0}
	v := newView(c)
	r := canaryRelease()
	if err := v.ApplyModelRecord([]byte("pump"), pointerValue(t, r)); err != nil {
		t.Fatal(err)
	}
	rejected := heartbeat("line3-x", t0, "1")
	rejected.Model.Rejected = "2"
	for id, hb := range map[string]*wire.Heartbeat{"gw-a": heartbeat("gw-a", t0, "2"), "line3-x": rejected,
		"line3-y": heartbeat("line3-y", t0, "1"), "gw-other": heartbeat("gw-other", t0, "1")} {
		_ = v.ApplyHeartbeat([]byte(id), mustJSON(t, hb), t0)
	}
	_ = v.ApplyModelRecord([]byte("pump/2/manifest"), []byte("ignored"))
	f := v.Snapshot()
	if len(f.Rollouts) != 1 {
		t.Fatalf("rollouts %+v", f.Rollouts)
	}
	got := f.Rollouts[0]
	if got.Action != "canary" || got.ID != "r-7" || got.Targets != 3 || got.Updated != 1 || got.Rejected != 1 ||
		got.State != fleet.RolloutFailing || fmt.Sprint(got.Canary) != "[gw-a line3-*]" || got.Stable != "1" {
		t.Errorf("rollout %+v: want canary r-7, 3 targets, 1 updated, 1 rejected, failing", got)
	}
	if err := v.ApplyModelRecord([]byte("pump"), nil); err != nil {
		t.Fatal(err)
	}
	if f := v.Snapshot(); len(f.Rollouts) != 0 {
		t.Errorf("a retired model keeps its rollout: %+v", f.Rollouts)
	}
}

// Recent keeps the newest RecentMax alerts and listed events, newest first.
func TestRecentAlertsAndEvents(t *testing.T) {
	v := newView(&clock{now: t0})
	for i := range 3 * fleet.RecentMax {
		at := t0.Add(time.Duration(i) * time.Second)
		a := wire.Alert{V: 1, Gateway: "gw-a", Device: "m1", Model: "pump", ModelVersion: "2", State: wire.AlertRaised, Score: 0.9, Threshold: 0.8, TS: at.UnixMilli()}
		if err := v.ApplyAlert(mustJSON(t, a), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	last := t0.Add(time.Hour)
	_ = v.ApplyEvent(wire.EncodeEvent("gw-b", wire.EventModelRejected, last, map[string]any{"model": "pump", "version": "2", "reason": "release"}), time.Time{})
	_ = v.ApplyEvent(wire.EncodeEvent("gw-b", wire.EventMQTTConnected, last.Add(time.Second), nil), time.Time{})
	if err := v.ApplyEvent([]byte("nope"), t0); !errors.Is(err, fleet.ErrBadRecord) {
		t.Errorf("bad event: %v", err)
	}
	rec := v.Snapshot().Recent
	if len(rec) != fleet.RecentMax {
		t.Fatalf("%d recent entries, want %d", len(rec), fleet.RecentMax)
	}
	if e := rec[0]; e.Type != wire.EventModelRejected || e.Model != "pump:2" || e.Summary != "reason=release" || !e.Time.Equal(last) {
		t.Errorf("newest %+v, want the model.rejected event", e)
	}
	if e := rec[1]; e.Type != "alert.raised" || e.Device != "m1" || *e.Score != 0.9 || !e.Time.Equal(t0.Add((3*fleet.RecentMax-1)*time.Second)) {
		t.Errorf("second %+v, want the newest alert", e)
	}
	if e := rec[len(rec)-1]; !e.Time.Equal(t0.Add((2*fleet.RecentMax + 1) * time.Second)) {
		t.Errorf("oldest kept %v", e.Time)
	}
}

// The models' history from the central tools (rollout.*, model.trained,
// model.evaluated, written under the tool's name) is listed too, with the
// model and who did what.
func TestRecentRolloutHistory(t *testing.T) {
	v := newView(&clock{now: t0})
	for i, typ := range []string{wire.EventModelTrained, wire.EventRolloutStarted, wire.EventRolloutPromoted, wire.EventRolloutAborted} {
		d := map[string]any{"model": "pump", "version": "3", "rollout": "r-1", "state": "promoted", "by": "alice", "reason": "canary clean"}
		if err := v.ApplyEvent(wire.EncodeEvent(wire.EventSourceFleet, typ, t0.Add(time.Duration(i)*time.Second), d), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	rec := v.Snapshot().Recent
	if len(rec) != 4 {
		t.Fatalf("%d recent entries, want the 4 model history events: %+v", len(rec), rec)
	}
	if e := rec[1]; e.Type != wire.EventRolloutPromoted || e.Gateway != wire.EventSourceFleet || e.Model != "pump:3" ||
		e.Summary != "by=alice reason=canary clean rollout=r-1 state=promoted" {
		t.Errorf("rollout.promoted entry %+v", e)
	}
}
