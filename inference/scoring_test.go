package inference

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

// specAlert is the alert rule as docs/architecture.md states it, written
// out independently of alertRule: raise after the score stays at/over Raise
// (at/under for remaining useful life) for min_duration of window-end time,
// clear after it stays under Clear (over it) as long; a crossing restarts
// when the score falls back, or when a window end precedes its start.
type specAlert struct {
	raised, pending bool
	since           time.Time
}

func (a *specAlert) step(th Thresholds, rul bool, s float64, end time.Time) (state string, threshold float64, flipped bool) {
	bad, good := s >= th.Raise, s < th.Clear
	if rul {
		bad, good = s <= th.Raise, s > th.Clear
	}
	toward, threshold, state := bad, th.Raise, AlertRaised
	if a.raised {
		toward, threshold, state = good, th.Clear, AlertCleared
	}
	if !toward {
		a.pending = false
		return "", 0, false
	}
	if !a.pending || end.Before(a.since) {
		a.pending, a.since = true, end
	}
	if end.Sub(a.since) < time.Duration(th.MinDuration) {
		return "", 0, false
	}
	a.raised, a.pending = !a.raised, false
	return state, threshold, true
}

// scorePackage returns a model whose output is the last vibration_rms
// value exactly (x0 + 1e30*x1 - 1e30*x1 + 1e30*x2 with x1 = x2 = 0), NaN
// when the last bearing_temp_c is ±1e10 (Inf - Inf) and ±Inf when the last
// current_a is ±1e10, with the given semantics and thresholds.
func scorePackage(t testing.TB, sem string, th Thresholds) *modelpkg.Package {
	t.Helper()
	g := &onnxgen.Model{Name: "rule", InputName: "features", OutputName: "score", Producer: "test", Layers: []onnxgen.Dense{
		{W: [][]float32{{1, 0, 0}, {0, 1e30, 0}, {0, 1e30, 0}, {0, 0, 1e30}}, B: make([]float32, 4)},
		{W: [][]float32{{1, 1, -1, 1}}, B: []float32{0}},
	}}
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	specs := []features.Spec{{Sensor: "vibration_rms", Stat: features.Last}, {Sensor: "bearing_temp_c", Stat: features.Last},
		{Sensor: "current_a", Stat: features.Last}}
	m := testManifest("rule", "1", g, specs)
	m.OutputSemantics, m.Thresholds, m.Window = sem, th, features.WindowConfig{Size: 1, Hop: 1}
	m.Samples = nil
	for _, x := range []float32{-2, 0.5, 40} {
		in := []float32{x, 0, 0}
		m.Samples = append(m.Samples, modelpkg.Sample{Input: in, Output: onnxgen.Eval(g, in)})
	}
	pkg, err := modelpkg.NewPackage(m, onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// ruleReadings returns n readings over 6 devices whose scores (the last
// vibration_rms) lie around th, at the thresholds exactly, at ±0, and now
// and then NaN or ±Inf, with window ends 1s apart per reading (the clock
// of one device going back now and then).
func ruleReadings(rng *rand.Rand, th Thresholds, n int, at *time.Time) []Reading {
	out := make([]Reading, n)
	for i := range out {
		*at = at.Add(time.Second)
		end := *at
		if rng.IntN(40) == 0 {
			end = end.Add(-5 * time.Second) // out of order for its device: dropped, or a crossing restarted
		}
		x := th.Raise + (rng.Float64()-0.5)*3*math.Max(math.Abs(th.Clear-th.Raise), 1e-3)
		switch rng.IntN(6) {
		case 0, 1:
			x = th.Clear - (th.Raise-th.Clear)*3 // quiet
		case 2:
			x = []float64{th.Raise, th.Clear, 0, math.Copysign(0, -1), float64(float32(th.Clear)), float64(float32(th.Raise))}[rng.IntN(6)]
		}
		v := map[string]float64{"vibration_rms": x, "bearing_temp_c": 0, "current_a": 0}
		switch rng.IntN(40) {
		case 0:
			v["bearing_temp_c"] = 1e10 // NaN output
		case 1:
			v["current_a"] = 1e10 // +Inf
		case 2:
			v["current_a"] = -1e10 // -Inf
		}
		out[i] = Reading{Device: fmt.Sprint("d", rng.IntN(6)), Time: end, Values: v}
	}
	return out
}

// TestScoringPathsMatchReference runs the same readings through an engine
// on each scoring path (EngineConfig.Scoring), for alert rules of both
// output semantics, thresholds that lie between float32 values, zero,
// negative thresholds, min_duration 0 and not, NaN/±Inf outputs, and a
// SetThresholds override between two phases; each prediction's score must
// be its row's last vibration value, each row must give a prediction or
// count as non-finite, and the alert events must be those of specAlert
// stepping every prediction in order. Both paths must emit the same
// predictions and events, and the fast path must have read groups in place.
func TestScoringPathsMatchReference(t *testing.T) {
	sec := features.Duration(time.Second)
	for _, tc := range []struct {
		sem        string
		th, phase2 Thresholds
	}{
		{modelpkg.SemanticsFailureProbability, Thresholds{Raise: 0.75, Clear: 0.5}, Thresholds{Raise: 0.8, Clear: 0.6, MinDuration: 2 * sec}},
		{modelpkg.SemanticsFailureProbability, Thresholds{Raise: 0.9, Clear: 0.7, MinDuration: 3 * sec}, Thresholds{Raise: 0.3, Clear: 0.1}},
		{modelpkg.SemanticsFailureProbability, Thresholds{Raise: 1e-40, Clear: 0}, Thresholds{Raise: 0.5, Clear: 0.5}},
		{modelpkg.SemanticsRUL, Thresholds{Raise: 30, Clear: 40}, Thresholds{Raise: 20, Clear: 50, MinDuration: 2 * sec}},
		{modelpkg.SemanticsRUL, Thresholds{Raise: 0, Clear: 5, MinDuration: sec}, Thresholds{Raise: -3, Clear: 2}},
		{modelpkg.SemanticsRUL, Thresholds{Raise: 0.05, Clear: 0.1}, Thresholds{Raise: 0.05, Clear: 0.1, MinDuration: 2 * sec}},
	} {
		name := fmt.Sprintf("%s/raise=%g/clear=%g", tc.sem, tc.th.Raise, tc.th.Clear)
		t.Run(name, func(t *testing.T) {
			var got [2]string
			for i, path := range []string{ScoringFast, ScoringReference} {
				got[i] = scoreThroughRule(t, path, tc.sem, tc.th, tc.phase2)
			}
			if got[0] != got[1] {
				t.Fatalf("fast and reference paths emitted different predictions or events:\nfast:\n%s\nreference:\n%s", got[0], got[1])
			}
		})
	}
}

// scoreThroughRule scores two phases of readings on one scoring path,
// checks them against specAlert and returns a transcript of what was
// emitted (predictions and events, in order).
func scoreThroughRule(t *testing.T, path, sem string, th, phase2 Thresholds) string {
	t.Helper()
	e := newTestEngine(t, EngineConfig{Scoring: path, IncludeFeatures: true, MaxBatch: 16, MaxDelay: 100 * time.Microsecond, QueueSize: 64})
	if err := e.Load(scorePackage(t, sem, th)); err != nil {
		t.Fatal(err)
	}
	c := startRun(t, e)
	rng := rand.New(rand.NewPCG(5, 6)) // the same readings on both paths
	at := time.Unix(1_700_000_000, 0)
	rows := func() int {
		return c.count() + int(testutil.ToFloat64(e.met.badOutputs)) + int(testutil.ToFloat64(e.met.dropped.WithLabelValues("out_of_order")))
	}
	var bounds []int // predictions at the end of each phase
	for phase, n := range []int{1500, 1500} {
		rth := th
		if phase == 1 {
			rth = phase2
			if err := e.SetThresholds(&phase2); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range ruleReadings(rng, rth, n, &at) {
			if err := e.Observe(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		want := 1500 * (phase + 1)
		waitFor(t, "every row of the phase scored", func() bool { return rows() == want })
		bounds = append(bounds, c.count())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if testutil.ToFloat64(e.met.badOutputs) == 0 {
		t.Error("no non-finite output: the test does not exercise them")
	}
	rul := lowIsBad(sem)
	ref := map[string]*specAlert{}
	var want []AlertEvent
	transcript := ""
	for i, p := range c.preds {
		rth := th
		if i >= bounds[0] {
			rth = phase2
		}
		if p.Score != float64(p.Features[0]) {
			t.Fatalf("prediction %d: score %v, want its last vibration value %v", i, p.Score, p.Features[0])
		}
		a := ref[p.Device]
		if a == nil {
			a = &specAlert{}
			ref[p.Device] = a
		}
		if state, threshold, flipped := a.step(rth, rul, p.Score, p.WindowEnd); flipped {
			want = append(want, AlertEvent{Device: p.Device, Model: "rule", ModelVersion: "1", State: state,
				Score: p.Score, Threshold: threshold, Time: p.WindowEnd})
		}
		transcript += fmt.Sprintln(p.Device, p.WindowEnd.Unix(), math.Float64bits(p.Score))
	}
	if fmt.Sprint(c.alerts) != fmt.Sprint(want) {
		t.Fatalf("%s path: %d events\n%v\nwant %d\n%v", path, len(c.alerts), c.alerts, len(want), want)
	}
	if len(want) < 10 {
		t.Fatalf("%s path: only %d alert events: the readings do not exercise the rule", path, len(want))
	}
	if path == ScoringFast && (e.fast == nil || e.fast.groups[1] == 0) {
		t.Error("fast path: no group read in place")
	}
	if path == ScoringReference && e.fast != nil {
		t.Error("reference path: the fast path is set")
	}
	return transcript + fmt.Sprint(c.alerts)
}

// TestAlertsForSkipsNonFinite: alertsFor steps every row with finite
// outputs (k of them) through the rule in order and counts the others,
// which change no state, against specAlert for random scores.
func TestAlertsForSkipsNonFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	th := Thresholds{Raise: 0.7, Clear: 0.5, MinDuration: features.Duration(time.Second)}
	e := newTestEngine(t, EngineConfig{})
	m := &model{man: &modelpkg.Manifest{Name: "m", Version: "1", OutputSemantics: modelpkg.SemanticsFailureProbability, Thresholds: th}}
	devs := []*device{{name: "a"}, {name: "b"}, {name: "c"}}
	ref := map[*device]*specAlert{}
	for _, d := range devs {
		ref[d] = &specAlert{}
	}
	at := time.Unix(1, 0)
	const k = 2
	for range 200 {
		n := 1 + rng.IntN(40)
		rows := make([]row, n)
		o := make([]float32, n*k)
		var want []string
		wantBad := 0
		for i := range rows {
			at = at.Add(time.Second)
			rows[i] = row{dev: devs[rng.IntN(len(devs))], end: at}
			o[i*k], o[i*k+1] = float32(rng.Float64()), 0
			switch rng.IntN(12) {
			case 0:
				o[i*k+1] = float32(math.NaN()) // a later output: no prediction either
			case 1:
				o[i*k] = float32(math.Inf(1 - 2*rng.IntN(2)))
			}
			if !finite(o[i*k : (i+1)*k]) {
				wantBad++
				continue
			}
			if state, _, ok := ref[rows[i].dev].step(th, false, float64(o[i*k]), at); ok {
				want = append(want, rows[i].dev.name+" "+state)
			}
		}
		b := &Batch{}
		bad := e.alertsFor(b, m, rows, o, k)
		var got []string
		for _, ev := range b.Alerts {
			got = append(got, ev.Device+" "+ev.State)
		}
		if bad != wantBad || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("bad %d events %v, want %d %v", bad, got, wantBad, want)
		}
	}
}
