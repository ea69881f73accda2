package inference

import (
	"context"
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
