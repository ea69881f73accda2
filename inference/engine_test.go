package inference

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEngineScoresWindows checks predictions against the Go reference
// evaluation of the same graph on the same feature vectors, and lineage.
func TestEngineScoresWindows(t *testing.T) {
	e := newTestEngine(t, EngineConfig{IncludeFeatures: true})
	if err := e.Load(testPackage(t, "m", "1", 8)); err != nil {
		t.Fatal(err)
	}
	if n, v, ok := e.Active(); !ok || n != "m" || v != "1" {
		t.Fatalf("active = %q %q %v", n, v, ok)
	}
	c := startRun(t, e)
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		for _, d := range []string{"a", "b"} {
			if err := e.Observe(ctx, reading(d, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// window 10, hop 1: rows for readings 9..29 of each device.
	waitFor(t, "42 predictions", func() bool { return c.count() == 42 })
	g := testGraph(8, 16, 7)
	plan, _ := features.NewPlan(testSpecs(8), nil)
	x, _ := features.NewExtractor(plan, features.WindowConfig{Size: 10})
	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[string]int{"a": 0, "b": 0}
	for _, p := range c.preds {
		var row features.Row
		for ok := false; !ok; next[p.Device]++ { // recompute with the training-side extractor
			var err error
			row, ok, err = x.Push(p.Device, reading(p.Device, next[p.Device]).Time, reading(p.Device, next[p.Device]).Values, nil)
			if err != nil {
				t.Fatal(err)
			}
		}
		if !row.WindowEnd.Equal(p.WindowEnd) || featureHash(row.Features, nil) != p.FeatureHash || featureHash(p.Features, nil) != p.FeatureHash {
			t.Fatalf("lineage mismatch: %+v vs row %+v", p, row)
		}
		want := float64(evalRef(g, row.Features))
		if p.Model != "m" || p.ModelVersion != "1" || len(p.Outputs) != 1 || math.Abs(p.Score-want) > 1e-5 {
			t.Fatalf("prediction %+v, want score %v", p, want)
		}
	}
}

func TestObserveWithoutModelAndAfterClose(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	if err := e.Observe(context.Background(), reading("a", 0)); err != nil {
		t.Fatalf("observe without model: %v", err)
	}
	if _, _, ok := e.Active(); ok {
		t.Fatal("active without model")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Observe(context.Background(), reading("a", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("observe after close: %v", err)
	}
	if err := e.Load(testPackage(t, "m", "1", 4)); !errors.Is(err, ErrClosed) {
		t.Fatalf("load after close: %v", err)
	}
	if err := e.Run(context.Background(), func(*Batch) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("run after close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal("second close:", err)
	}
}

func TestObserveBackpressure(t *testing.T) {
	e := newTestEngine(t, EngineConfig{QueueSize: 2})
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var err error
	for i := 0; i < 20 && err == nil; i++ { // no Run: the queue fills after 2 rows
		err = e.Observe(ctx, reading("a", i))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want blocking until ctx ends, got %v", err)
	}
	// A Run started later scores the queued rows, then Close is clean.
	c := startRun(t, e)
	waitFor(t, "queued rows scored", func() bool { return c.count() == 2 })
}

func TestRunDrainsOnCancelAndSecondRunRefused(t *testing.T) {
	e := newTestEngine(t, EngineConfig{MaxDelay: time.Hour, MaxBatch: 1000})
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 15; i++ {
		if err := e.Observe(context.Background(), reading("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{}
	done := make(chan error)
	go func() { done <- e.Run(ctx, c.emit) }()
	// Only a running Run takes rows off the queue, so once the queue is
	// empty the first Run holds the engine (waiting for its batch to fill).
	waitFor(t, "run to take the queued rows", func() bool { return len(e.rows) == 0 })
	if err := e.Run(ctx, c.emit); !errors.Is(err, ErrRunning) {
		t.Fatalf("second run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.count() != 6 {
		t.Fatalf("drained %d rows, want 6", c.count())
	}
}

func TestDropsBadReadings(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	pkg := packageFor(t, "m", "1", 8, 1)
	man, _ := pkg.Decode()
	man.Targeting.DeviceClasses = []string{"pump"}
	pkg, _ = modelpkg.NewPackage(man, pkg.ONNX)
	if err := e.Load(pkg); err != nil {
		t.Fatal(err)
	}
	c := startRun(t, e)
	ctx := context.Background()
	obs := func(r Reading) {
		if err := e.Observe(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		r := reading("a", i)
		r.Class = "pump"
		obs(r)
		r.Class = "fan" // not targeted: dropped
		r.Device = "b"
		obs(r)
	}
	obs(reading("a", 3))                                                                                            // out of order: dropped
	obs(Reading{Device: "a", Time: reading("a", 20).Time})                                                          // no values: dropped
	obs(Reading{Device: "a", Time: reading("a", 21).Time, Values: map[string]float64{"vibration_rms": math.NaN()}}) // dropped
	r := reading("a", 22)
	r.Values["vibration_rms"] = math.Inf(1) // treated as missing; row still due
	obs(r)
	for i := 0; i < 10; i++ { // a marker: rows are scored in queue order
		r := reading("c", i)
		r.Class = "pump"
		obs(r)
	}
	waitFor(t, "c's prediction", func() bool { return c.count() >= 3 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.preds); n != 3 || c.preds[0].Device != "a" || c.preds[1].Device != "a" || c.preds[2].Device != "c" {
		t.Fatalf("%d predictions %+v, want 2 of a then c's", n, c.preds)
	}
}

func TestAlertHysteresis(t *testing.T) {
	m := &model{man: &modelpkg.Manifest{OutputSemantics: modelpkg.SemanticsFailureProbability,
		Thresholds: Thresholds{Raise: 0.8, Clear: 0.5, MinDuration: features.Duration(10 * time.Second)}}}
	var a alertState
	var events []string
	scores := []float64{0.1, 0.9, 0.95, 0.7 /*reset*/, 0.85, 0.9, 0.99 /*raised at 10s*/, 0.6, 0.4, 0.45, 0.6 /*reset*/, 0.3, 0.2, 0.1}
	rule := ruleFor(m, nil)
	for i, s := range scores {
		end := t0().Add(time.Duration(i) * 5 * time.Second)
		if state, _, ok := rule.step(&a, s, end); ok {
			events = append(events, state+"@"+end.Sub(t0()).String())
		}
	}
	want := []string{"raised@30s", "cleared@1m5s"}
	if len(events) != 2 || events[0] != want[0] || events[1] != want[1] {
		t.Fatalf("events %v, want %v", events, want)
	}
	// Remaining useful life: raise when at/below, clear when above.
	m.man.OutputSemantics = modelpkg.SemanticsRUL
	m.man.Thresholds = Thresholds{Raise: 3600, Clear: 7200}
	a = alertState{}
	var got []string
	rule = ruleFor(m, nil)
	for i, s := range []float64{9000, 3000, 5000, 8000} {
		if state, _, ok := rule.step(&a, s, t0().Add(time.Duration(i)*time.Second)); ok {
			got = append(got, state)
		}
	}
	if len(got) != 2 || got[0] != AlertRaised || got[1] != AlertCleared {
		t.Fatalf("rul events %v", got)
	}
}

func TestDriftReport(t *testing.T) {
	clk := newTestClock()
	reports := make(chan DriftReport, 1)
	e := newTestEngine(t, EngineConfig{DriftInterval: time.Minute, DeviceIdleTTL: -1, Now: clk.Now,
		OnDrift: func(r DriftReport) { reports <- r }})
	tick := make(chan time.Time)
	e.newTicker = func(d time.Duration) ticker {
		if d != time.Minute {
			t.Errorf("drift ticker period %v", d)
		}
		return ticker{C: tick, stop: func() {}}
	}
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Drift(); ok {
		t.Fatal("drift before any row")
	}
	for i := 0; i < 20; i++ {
		if err := e.Observe(context.Background(), reading("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Hour)
	rep, ok := e.Drift()
	if !ok || rep.Rows != 11 || len(rep.Features) != 4 || rep.Model != "m" || rep.ModelVersion != "1" ||
		!rep.Since.Equal(t0()) || !rep.Time.Equal(t0().Add(time.Hour)) {
		t.Fatalf("drift %+v", rep)
	}
	// testManifest's training stats: mean 1, std 2. Feature 3 is speed_rpm.mean ~1481.
	f := rep.Features[3]
	if f.Feature != "speed_rpm.mean" || f.TrainMean != 1 || f.TrainStd != 2 || f.Mean < 1480 ||
		math.Abs(f.Z-(f.Mean-1)/2) > 1e-9 || f.Score != math.Abs(f.Z) || f.Std <= 0 || f.StdRatio != f.Std/2 {
		t.Fatalf("feature drift %+v", f)
	}
	b, err := json.Marshal(rep)
	if err != nil || !strings.Contains(string(b), `"model_version":"1"`) || !strings.Contains(string(b), `"train_std":2`) {
		t.Fatalf("drift event %s, %v", b, err)
	}
	startRun(t, e)
	tick <- clk.Now()
	if r := <-reports; r.Model != "m" || r.Rows != 11 {
		t.Fatalf("drift event %+v", r)
	}
}

func t0() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }

// TestCloseWhileRunning races Close against Run starting and scoring.
func TestCloseWhileRunning(t *testing.T) {
	for i := 0; i < 20; i++ {
		initRuntime(t)
		e, err := NewEngine(EngineConfig{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 12; j++ {
			_ = e.Observe(context.Background(), reading("a", j))
		}
		done := make(chan error)
		go func() { done <- e.Run(context.Background(), func(*Batch) {}) }()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("run after close: %v", err)
		}
		if e.freed.Load() != 1 {
			t.Fatalf("session not released: %d", e.freed.Load())
		}
	}
}

// TestClockSetBackRestartsWindow: a device whose clock jumps back by more
// than ClockResetAfter gets a fresh window (after 3 such readings in a row)
// and is scored again once it refills, instead of being dropped as out of
// order until its clock catches up; a small step back is still dropped.
func TestClockSetBackRestartsWindow(t *testing.T) {
	for _, tc := range []struct {
		name      string
		after     time.Duration
		wantReset bool
	}{{"default", 0, true}, {"disabled", -1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, EngineConfig{MaxDelay: -1, ClockResetAfter: tc.after})
			if err := e.Load(testPackage(t, "m", "1", 8)); err != nil {
				t.Fatal(err)
			}
			c := startRun(t, e)
			obs := func(r Reading) {
				t.Helper()
				if err := e.Observe(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 12; i++ { // window 10, hop 1: rows for readings 9, 10, 11
				obs(reading("d", i))
			}
			waitFor(t, "3 predictions", func() bool { return c.count() == 3 })
			small := reading("d", 11)
			small.Time = small.Time.Add(-10 * time.Second) // jitter: dropped
			obs(small)
			if n := testutil.ToFloat64(e.met.dropped.WithLabelValues("out_of_order")); n != 1 {
				t.Fatalf("out_of_order drops %v, want 1", n)
			}
			back := func(i int) Reading { // the clock set back by 24 h
				r := reading("d", i)
				r.Time = r.Time.Add(-24 * time.Hour)
				return r
			}
			for i := 0; i < 12; i++ { // back(0), back(1) dropped; back(2) restarts; a full window at back(11)
				obs(back(i))
			}
			if !tc.wantReset {
				time.Sleep(50 * time.Millisecond)
				if c.count() != 3 || testutil.ToFloat64(e.met.clockResets) != 0 {
					t.Fatalf("predictions %d, resets %v: the window restarted while disabled", c.count(), testutil.ToFloat64(e.met.clockResets))
				}
				if n := testutil.ToFloat64(e.met.dropped.WithLabelValues("out_of_order")); n != 13 {
					t.Fatalf("out_of_order drops %v, want 13", n)
				}
				return
			}
			waitFor(t, "a prediction from the restarted window", func() bool { return c.count() == 4 })
			c.mu.Lock()
			p := c.preds[3]
			c.mu.Unlock()
			if !p.WindowEnd.Equal(back(11).Time) {
				t.Fatalf("window end %v, want %v", p.WindowEnd, back(11).Time)
			}
			if n := testutil.ToFloat64(e.met.clockResets); n != 1 {
				t.Fatalf("clock resets %v, want 1", n)
			}
			if n := testutil.ToFloat64(e.met.dropped.WithLabelValues("out_of_order")); n != 3 {
				t.Fatalf("out_of_order drops %v, want 3 (the jitter and two readings before the restart)", n)
			}
		})
	}
}
