package inference

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/inference/replay"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

// indexPackage returns a schema-2 anomaly_score model with two outputs:
// column 0 is -last(vibration_rms), column 1 (output_index) is
// 10*last(vibration_rms), the score.
func indexPackage(t testing.TB) *modelpkg.Package {
	t.Helper()
	g := &onnxgen.Model{Name: "idx", InputName: "features", OutputName: "scores", Producer: "test",
		Layers: []onnxgen.Dense{{W: [][]float32{{-1}, {10}}, B: []float32{0, 0}}}}
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	m := testManifest("idx", "1", g, []features.Spec{{Sensor: "vibration_rms", Stat: features.Last}})
	m.SchemaVersion, m.OutputIndex, m.AlertWhen, m.OutputSemantics = modelpkg.SchemaVersion2, 1, modelpkg.AlertAbove, modelpkg.SemanticsAnomalyScore
	m.Thresholds, m.Window = Thresholds{Raise: 30, Clear: 20}, features.WindowConfig{Size: 1, Hop: 1}
	pkg, err := modelpkg.NewPackage(m, onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// TestOutputIndexAndAnomalyScore: the score is the output_index column,
// and an anomaly_score model raises above its threshold and clears below.
func TestOutputIndexAndAnomalyScore(t *testing.T) {
	e := newTestEngine(t, EngineConfig{MaxDelay: -1})
	if err := e.Load(indexPackage(t)); err != nil {
		t.Fatal(err)
	}
	c := startRun(t, e)
	vib := []float64{1, 4, 5, 1}
	at := time.Unix(1_700_000_000, 0)
	for i, v := range vib {
		r := Reading{Device: "d", Time: at.Add(time.Duration(i) * time.Second), Values: map[string]float64{"vibration_rms": v}}
		if err := e.Observe(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "prediction", func() bool { return c.count() == i+1 })
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.preds {
		if p.Score != 10*vib[i] || len(p.Outputs) != 2 || p.Outputs[0] != float32(-vib[i]) {
			t.Errorf("prediction %d: score %g outputs %v, want score %g", i, p.Score, p.Outputs, 10*vib[i])
		}
	}
	var states []string
	for _, a := range c.alerts {
		states = append(states, fmt.Sprintf("%s@%g", a.State, a.Score))
	}
	if want := []string{"raised@40", "cleared@10"}; !slices.Equal(states, want) {
		t.Errorf("alerts %v, want %v", states, want)
	}
}

// TestCheckPackageRejectsIndexBeyondOutputs: output_index must name a column.
func TestCheckPackageRejectsIndexBeyondOutputs(t *testing.T) {
	initRuntime(t)
	pkg := indexPackage(t)
	man, err := CheckPackage(pkg, EngineConfig{})
	if err != nil || man.OutputIndex != 1 {
		t.Fatalf("check: %v", err)
	}
	m, _ := pkg.Decode()
	m.OutputIndex = 2
	for i := range m.Samples {
		m.Samples[i].Output = append(m.Samples[i].Output, 0)
	}
	bad, err := modelpkg.NewPackage(m, pkg.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckPackage(bad, EngineConfig{}); modelpkg.RejectReason(err) != modelpkg.ReasonOutputShape {
		t.Fatalf("output_index 2 of 2 columns: %v", err)
	}
}

// TestExportedRowsAreScoredRows: the rows `edgepm features export`
// computes (package replay) are exactly the feature vectors the engine
// scores for the same readings, skipped readings included.
func TestExportedRowsAreScoredRows(t *testing.T) {
	pkg := testPackage(t, "m", "1", 12)
	man, err := pkg.Decode()
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, EngineConfig{MaxDelay: -1, IncludeFeatures: true})
	if err := e.Load(pkg); err != nil {
		t.Fatal(err)
	}
	c := startRun(t, e)
	plan, err := features.NewPlan(man.Features, man.Imputation())
	if err != nil {
		t.Fatal(err)
	}
	x, err := replay.NewExporter(plan, man.Window)
	if err != nil {
		t.Fatal(err)
	}
	var want []features.Row
	for i := 0; i < 300; i++ {
		r := reading(fmt.Sprint("d", i%3), i)
		switch i % 17 {
		case 3:
			delete(r.Values, "bearing_temp_c") // a missing sensor: used, imputed where needed
		case 5:
			r.Values = map[string]float64{"other": 1} // none of the model's sensors: skipped
		case 7:
			r.Values["current_a"] = math.NaN()
		}
		if err := e.Observe(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		row, ok, err := x.Push(replay.Reading{Device: r.Device, Time: r.Time, Values: r.Values})
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			want = append(want, row)
		}
	}
	waitFor(t, "predictions", func() bool { return c.count() == len(want) })
	if x.Counts.NoValues == 0 || x.Counts.MissingSensors == 0 || x.Counts.Rows != len(want) {
		t.Fatalf("counts %+v", x.Counts)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.preds {
		w := want[i]
		if p.Device != w.Device || !p.WindowEnd.Equal(w.WindowEnd) || !slices.Equal(p.Features, w.Features) {
			t.Fatalf("row %d: engine %s %v %v, export %s %v %v", i, p.Device, p.WindowEnd, p.Features, w.Device, w.WindowEnd, w.Features)
		}
	}
}
