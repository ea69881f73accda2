package ingest

import (
	"fmt"
	"testing"
	"time"
)

func TestStuckTracker(t *testing.T) {
	tr := newStuckTracker()
	at := func(i int) time.Time { return time.Unix(1_780_000_000+int64(i), 0) }
	var changes []StuckChange
	feed := func(i int, v map[string]float64) {
		changes = tr.observe("pump-1", at(i), v, 5, map[string]bool{"speed_rpm": true}, changes[:0])
	}
	for i := 0; i < 4; i++ { // 4 equal readings: not yet
		feed(i, map[string]float64{"vib": 2.5, "temp": float64(60 + i), "speed_rpm": 1480})
		if len(changes) != 0 || tr.Stuck() != 0 {
			t.Fatalf("reading %d: changes %v", i, changes)
		}
	}
	feed(4, map[string]float64{"vib": 2.5, "temp": 70, "speed_rpm": 1480}) // the 5th: vib is stuck
	if len(changes) != 1 || !changes[0].Stuck || changes[0].Sensor != "vib" || changes[0].Readings != 5 ||
		!changes[0].Since.Equal(at(0)) || tr.Stuck() != 1 {
		t.Fatalf("5th reading: changes %+v, stuck %d", changes, tr.Stuck())
	}
	feed(5, map[string]float64{"vib": 2.5, "speed_rpm": 1480}) // still stuck: reported once
	if len(changes) != 0 {
		t.Fatalf("reported twice: %+v", changes)
	}
	feed(6, map[string]float64{"vib": 2.6, "speed_rpm": 1480})
	if len(changes) != 1 || changes[0].Stuck || changes[0].Value != 2.6 || changes[0].Readings != 6 || tr.Stuck() != 0 {
		t.Fatalf("recovery: changes %+v, stuck %d", changes, tr.Stuck())
	}
	// Off below 2, and other devices are separate.
	if c := tr.observe("pump-2", at(0), map[string]float64{"vib": 1}, 0, nil, nil); len(c) != 0 {
		t.Fatal("check ran while off")
	}
	for i := 0; i < 3; i++ {
		changes = tr.observe("pump-2", at(i), map[string]float64{"vib": 1}, 3, nil, changes[:0])
	}
	if len(changes) != 1 || changes[0].Device != "pump-2" || tr.Stuck() != 1 {
		t.Fatalf("pump-2: %+v", changes)
	}
}

// A forgotten device (evicted by the device table, which bounds the
// check's devices) leaves the check and the stuck count, and starts afresh.
func TestStuckTrackerForget(t *testing.T) {
	tr := newStuckTracker()
	for i := 0; i < 3; i++ {
		for _, d := range []string{"d1", "d2"} {
			tr.observe(d, time.Unix(int64(i), 0), map[string]float64{"v": 1, "w": float64(i)}, 2, nil, nil)
		}
	}
	if tr.Stuck() != 2 {
		t.Fatalf("%d stuck, want 2", tr.Stuck())
	}
	tr.forget("d1")
	tr.forget("unknown")
	if tr.Stuck() != 1 || len(tr.devs) != 1 {
		t.Fatalf("after forget: %d stuck, %d devices", tr.Stuck(), len(tr.devs))
	}
	if c := tr.observe("d1", time.Unix(9, 0), map[string]float64{"v": 1}, 2, nil, nil); len(c) != 0 {
		t.Fatalf("a forgotten device's old run counted: %+v", c)
	}
	for i := 0; i < 1000; i++ {
		tr.observe(fmt.Sprintf("x%d", i), time.Unix(0, 0), map[string]float64{"v": 1}, 2, nil, nil)
		tr.forget(fmt.Sprintf("x%d", i))
	}
	if len(tr.devs) != 2 {
		t.Fatalf("%d devices held after forgetting the rest", len(tr.devs))
	}
}

// Readings not newer than the device's newest checked one (redeliveries,
// stragglers) do not count as repeats.
func TestStuckTrackerSkipsRedeliveries(t *testing.T) {
	tr := newStuckTracker()
	ts := time.Unix(1_780_000_000, 0)
	var changes []StuckChange
	for range 10 { // the same reading redelivered
		changes = tr.observe("d", ts, map[string]float64{"v": 1}, 3, nil, changes)
	}
	changes = tr.observe("d", ts.Add(-time.Second), map[string]float64{"v": 1}, 3, nil, changes)
	if len(changes) != 0 || tr.Stuck() != 0 {
		t.Fatalf("redeliveries counted as repeats: %+v", changes)
	}
	changes = tr.observe("d", ts.Add(time.Second), map[string]float64{"v": 1}, 3, nil, changes)
	changes = tr.observe("d", ts.Add(2*time.Second), map[string]float64{"v": 1}, 3, nil, changes)
	if len(changes) != 1 || tr.Stuck() != 1 {
		t.Fatalf("3 newer equal readings: %+v", changes)
	}
}

// A change of settings (a reload) reports every stuck sensor recovered and
// starts afresh; the same settings again change nothing.
func TestStuckTrackerConfigure(t *testing.T) {
	tr := newStuckTracker()
	if ch := tr.configure(3, nil); len(ch) != 0 {
		t.Fatalf("first configure: %+v", ch)
	}
	for i := range 3 {
		tr.observe("d", time.Unix(int64(i+1), 0), map[string]float64{"v": 1, "w": 2}, 3, nil, nil)
	}
	if tr.Stuck() != 2 {
		t.Fatalf("stuck %d, want 2", tr.Stuck())
	}
	if ch := tr.configure(3, nil); len(ch) != 0 || tr.Stuck() != 2 {
		t.Fatalf("unchanged settings reset the state: %+v", ch)
	}
	ch := tr.configure(3, []string{"v"})
	if len(ch) != 2 || ch[0].Stuck || ch[1].Stuck || tr.Stuck() != 0 || len(tr.devs) != 0 {
		t.Fatalf("after a settings change: changes %+v, stuck %d", ch, tr.Stuck())
	}
}

func TestStuckTrackerBoundsSensors(t *testing.T) {
	tr := newStuckTracker()
	v := map[string]float64{}
	for i := range maxStuckSensors + 50 {
		v[fmt.Sprintf("s%d", i)] = 1
	}
	tr.observe("d", time.Unix(1, 0), v, 2, nil, nil)
	if n := len(tr.devs["d"].runs); n != maxStuckSensors {
		t.Fatalf("%d sensors tracked, bound %d", n, maxStuckSensors)
	}
}
