package inference

import (
	"context"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

// featureGauges returns the values of the per-feature gauge name, by
// feature label.
func featureGauges(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				got[l.GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	return got
}

// gaugeFeatures returns the feature label values of the drift z gauge.
func gaugeFeatures(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	return slices.Sorted(maps.Keys(featureGauges(t, reg, "edgepm_inference_feature_drift_z")))
}

// driftEngine returns an engine of cfg serving pkg, without a drift ticker
// (the tests call reportDrift), and its metrics registry.
func driftEngine(t *testing.T, cfg EngineConfig, pkg *modelpkg.Package) (*Engine, *prometheus.Registry) {
	t.Helper()
	initRuntime(t)
	reg := prometheus.NewRegistry()
	cfg.DriftInterval = -1
	e, err := NewEngine(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Load(pkg); err != nil {
		t.Fatal(err)
	}
	return e, reg
}

// TestDriftGaugesFollowSwap: after a swap the drift gauges drop the old
// model's feature labels; the next report sets only the new model's.
func TestDriftGaugesFollowSwap(t *testing.T) {
	e, reg := driftEngine(t, EngineConfig{}, testPackage(t, "m", "1", 4))
	for i := 0; i < 10; i++ {
		if err := e.Observe(context.Background(), reading("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	e.reportDrift()
	want := []string{"bearing_temp_c.mean", "current_a.mean", "speed_rpm.mean", "vibration_rms.mean"}
	if got := gaugeFeatures(t, reg); !slices.Equal(got, want) {
		t.Fatalf("gauges %v, want %v", got, want)
	}

	specs := []features.Spec{{Sensor: "vibration_rms", Stat: features.Max}, {Sensor: "current_a", Stat: features.RMS}}
	g := testGraph(2, 4, 3)
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := modelpkg.NewPackage(testManifest("n", "1", g, specs), onnx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load(pkg); err != nil {
		t.Fatal(err)
	}
	if got := gaugeFeatures(t, reg); len(got) != 0 {
		t.Fatalf("stale gauges after swap: %v", got)
	}
	if err := e.Observe(context.Background(), reading("a", 10)); err != nil {
		t.Fatal(err)
	}
	e.reportDrift()
	if got := gaugeFeatures(t, reg); !slices.Equal(got, []string{"current_a.rms", "vibration_rms.max"}) {
		t.Fatalf("gauges %v", got)
	}
	e.Close()
	if got := gaugeFeatures(t, reg); len(got) != 0 {
		t.Fatalf("gauges after close: %v", got)
	}
}

// driftOfFeature returns the report's statistics of the named feature.
func driftOfFeature(t *testing.T, rep DriftReport, name string) FeatureDrift {
	t.Helper()
	for _, f := range rep.Features {
		if f.Feature == name {
			return f
		}
	}
	t.Fatalf("no feature %s in %+v", name, rep.Features)
	return FeatureDrift{}
}

// TestDriftRecentInterval: each report closes an interval; the recent
// statistics are those of the interval closed last, so a change shows at
// full strength in RecentScore while the cumulative Score dilutes it.
// Before the first report the recent period is the whole.
func TestDriftRecentInterval(t *testing.T) {
	e, _ := driftEngine(t, EngineConfig{}, testPackage(t, "m", "1", 4))
	for i := 0; i < 40; i++ {
		if err := e.Observe(context.Background(), reading("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	before, ok := e.Drift()
	if f := driftOfFeature(t, before, "current_a.mean"); !ok || before.RecentRows != before.Rows || f.RecentMean != f.Mean || f.RecentScore != f.Score {
		t.Fatalf("before any report: %+v", before)
	}
	e.reportDrift()
	first, _ := e.Drift()
	for i := 40; i < 200; i++ { // the current doubles
		r := reading("a", i)
		r.Values["current_a"] = 20
		if err := e.Observe(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	e.reportDrift()
	rep, _ := e.Drift()
	n1, n2 := first.Rows, rep.Rows-first.Rows
	f0, f := driftOfFeature(t, first, "current_a.mean"), driftOfFeature(t, rep, "current_a.mean")
	if rep.RecentRows != n2 || !rep.RecentSince.After(first.Since) || rep.RecentSince.After(first.Time) {
		t.Fatalf("recent rows %d since %s, want %d since the first report", rep.RecentRows, rep.RecentSince, n2)
	}
	if got := f.RecentMean*float64(n2) + f0.Mean*float64(n1); math.Abs(got-f.Mean*float64(rep.Rows)) > 1e-6*float64(rep.Rows) {
		t.Fatalf("the intervals' sums %v do not add up to the cumulative %v", got, f.Mean*float64(rep.Rows))
	}
	if !(f.RecentScore > f.Score && f.RecentMean > f.Mean && f.Worst() == f.RecentScore) {
		t.Fatalf("after the change: recent mean %v score %v, cumulative mean %v score %v", f.RecentMean, f.RecentScore, f.Mean, f.Score)
	}
}

// A feature whose package carries a training histogram gets a PSI since
// loading and over the last interval, and a PSI gauge; a change that puts
// the served values in a bin training hardly held is drifting by PSI
// (Level above 1) even when the mean moved less than 3 training stds, but
// only once DefaultDriftMinPSIRows rows were served. Features without a histogram
// report no PSI and no gauge.
func TestDriftPSI(t *testing.T) {
	initRuntime(t)
	g := testGraph(4, 16, 7)
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	man := testManifest("m", "1", g, testSpecs(4))
	hi := slices.IndexFunc(man.Features, func(s features.Spec) bool { return s.String() == "current_a.mean" })
	// Training: current between 8 and 12 A but for 1% on either side,
	// and a wide std, so that a move to 20 A is 2 stds: under the
	// mean-shift mark.
	man.FeatureStats[hi] = modelpkg.FeatureStat{Mean: 10, Std: 5, Hist: &modelpkg.Hist{Edges: []float64{8, 12}, Shares: []float64{0.01, 0.98, 0.01}}}
	man.SchemaVersion = man.NeededSchemaVersion()
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	feed := func(e *Engine, from, to int, current float64) {
		for i := from; i < to; i++ {
			r := reading("a", i)
			if current != 0 {
				r.Values["current_a"] = current
			}
			if err := e.Observe(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Too few rows: a large PSI is reported but does not count, unless the
	// configured minimum is lower; a negative mark never counts.
	for _, c := range []struct {
		cfg      EngineConfig
		drifting bool
	}{{EngineConfig{}, false}, {EngineConfig{DriftMinPSIRows: 100}, true}, {EngineConfig{DriftMinPSIRows: 100, DriftPSIMark: -1}, false}} {
		few, _ := driftEngine(t, c.cfg, pkg)
		feed(few, 0, 200, 20)
		rep, _ := few.Drift()
		if f := driftOfFeature(t, rep, "current_a.mean"); !f.HasHist || f.PSI <= DefaultDriftPSIMark || f.Drifting() != c.drifting {
			t.Fatalf("%d rows at 20 A, min rows %d, mark %g: %+v; want a large PSI, drifting %v", rep.Rows, c.cfg.DriftMinPSIRows, c.cfg.DriftPSIMark, f, c.drifting)
		}
	}

	e, reg := driftEngine(t, EngineConfig{}, pkg)
	feed(e, 0, DefaultDriftMinPSIRows+50, 0)
	e.reportDrift()
	first, _ := e.Drift()
	if f := driftOfFeature(t, first, "current_a.mean"); !f.HasHist || !f.PSIReady || f.PSI > 0.25 || f.Drifting() {
		t.Fatalf("served like training: %+v", f)
	}
	for _, f := range first.Features {
		if f.Feature != "current_a.mean" && (f.HasHist || f.PSI != 0 || f.RecentPSI != 0) {
			t.Fatalf("feature without a histogram: %+v", f)
		}
	}
	feed(e, DefaultDriftMinPSIRows+50, 2*DefaultDriftMinPSIRows, 20)
	e.reportDrift()
	rep, _ := e.Drift()
	f := driftOfFeature(t, rep, "current_a.mean")
	if f.Worst() >= DriftScoreMark || f.RecentPSI <= f.PSI || f.PSI <= DefaultDriftPSIMark || !f.Drifting() || f.Level() != f.PSI/DefaultDriftPSIMark {
		t.Fatalf("after the change: score %v, PSI %v, recent PSI %v, level %v", f.Worst(), f.PSI, f.RecentPSI, f.Level())
	}
	gauges := featureGauges(t, reg, "edgepm_inference_feature_drift_psi")
	if !slices.Equal(slices.Sorted(maps.Keys(gauges)), []string{"current_a.mean"}) {
		t.Errorf("PSI gauges for %v, want only current_a.mean", gauges)
	}
	if v := gauges["current_a.mean"]; v != f.PSI {
		t.Errorf("PSI gauge %v, want %v", v, f.PSI)
	}
}
