package inference

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

// gaugeFeatures returns the feature label values of the drift z gauge.
func gaugeFeatures(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if mf.GetName() != "edgepm_inference_feature_drift_z" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
		}
	}
	slices.Sort(got)
	return got
}

// TestDriftGaugesFollowSwap: after a swap the drift gauges drop the old
// model's feature labels; the next report sets only the new model's.
func TestDriftGaugesFollowSwap(t *testing.T) {
	initRuntime(t)
	reg := prometheus.NewRegistry()
	e, err := NewEngine(EngineConfig{DriftInterval: -1}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
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

// TestDriftRecentInterval: each report closes an interval; the recent
// statistics are those of the interval closed last, so a change shows at
// full strength in RecentScore while the cumulative Score dilutes it.
// Before the first report the recent period is the whole.
func TestDriftRecentInterval(t *testing.T) {
	initRuntime(t)
	e, err := NewEngine(EngineConfig{DriftInterval: -1}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
	feature := func(rep DriftReport, name string) FeatureDrift {
		for _, f := range rep.Features {
			if f.Feature == name {
				return f
			}
		}
		t.Fatalf("no feature %s in %+v", name, rep.Features)
		return FeatureDrift{}
	}
	for i := 0; i < 40; i++ {
		if err := e.Observe(context.Background(), reading("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	before, ok := e.Drift()
	if f := feature(before, "current_a.mean"); !ok || before.RecentRows != before.Rows || f.RecentMean != f.Mean || f.RecentScore != f.Score {
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
	f0, f := feature(first, "current_a.mean"), feature(rep, "current_a.mean")
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
