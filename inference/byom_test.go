package inference

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
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

// windowPackage returns a schema-2 package with a window input [N, 3, 2]
// of sensors a and b whose one output is the sum of the normalised window.
func windowPackage(t testing.TB) (*modelpkg.Package, *onnxgen.Model) {
	t.Helper()
	w := make([]float32, 6)
	for i := range w {
		w[i] = 1
	}
	g := &onnxgen.Model{Name: "win", InputName: "window", OutputName: "rul", Producer: "test",
		InputDims: []int64{-1, 3, 2}, FlattenInput: true, Layers: []onnxgen.Dense{{W: [][]float32{w}, B: []float32{0}}}}
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	m := &modelpkg.Manifest{SchemaVersion: 2, Name: "win", Version: "1", InputName: "window", OutputName: "rul",
		InputKind: modelpkg.InputWindow, Sensors: []string{"a", "b"}, OutputSemantics: modelpkg.SemanticsRULCycles,
		Window:       features.WindowConfig{Size: 3, MinSamples: 1, Hop: 1},
		FeatureStats: []modelpkg.FeatureStat{{Mean: 10, Std: 2}, {Mean: 0, Std: 1}},
		Thresholds:   Thresholds{Raise: 5, Clear: 10}}
	in := []float32{0, 0, 1, 2, 3, 4}
	m.Samples = []modelpkg.Sample{{Input: in, Output: onnxgen.Eval(g, in)}}
	pkg, err := modelpkg.NewPackage(m, onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg, g
}

// TestWindowInputServes: a [N, T, S] model scores the normalised window,
// front-padded while the window fills, with missing values at 0.
func TestWindowInputServes(t *testing.T) {
	pkg, _ := windowPackage(t)
	e := newTestEngine(t, EngineConfig{MaxDelay: -1, IncludeFeatures: true})
	if err := e.Load(pkg); err != nil {
		t.Fatal(err)
	}
	c := startRun(t, e)
	at := time.Unix(1_700_000_000, 0)
	vals := []map[string]float64{{"a": 12, "b": 1}, {"a": 14}, {"a": 10, "b": -2}, {"a": 8, "b": 3}}
	want := [][]float32{{0, 0, 0, 0, 1, 1}, {0, 0, 1, 1, 2, 0}, {1, 1, 2, 0, 0, -2}, {2, 0, 0, -2, -1, 3}}
	for i, v := range vals {
		if err := e.Observe(context.Background(), Reading{Device: "d", Time: at.Add(time.Duration(i) * time.Second), Values: v}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "prediction", func() bool { return c.count() == i+1 })
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.preds {
		var sum float32
		for _, x := range want[i] {
			sum += x
		}
		if !slices.Equal(p.Features, want[i]) || p.Score != float64(sum) {
			t.Errorf("prediction %d: input %v score %g, want %v and %g", i, p.Features, p.Score, want[i], sum)
		}
	}
}

// TestWindowInputChecks: the graph's [N, T, S] must match window.size and
// the sensors, with errors naming both sides.
func TestWindowInputChecks(t *testing.T) {
	initRuntime(t)
	pkg, _ := windowPackage(t)
	if _, err := CheckPackage(pkg, EngineConfig{}); err != nil {
		t.Fatal(err)
	}
	m, _ := pkg.Decode()
	m.Window.Size = 4
	m.Samples[0].Input = make([]float32, 8)
	bad, err := modelpkg.NewPackage(m, pkg.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	_, err = CheckPackage(bad, EngineConfig{})
	if modelpkg.RejectReason(err) != modelpkg.ReasonInputShape || !strings.Contains(err.Error(), "has shape [N, 3, 2], manifest declares a window of 4 readings of 2 sensors") {
		t.Fatalf("window of 4 for a [N, 3, 2] graph: %v", err)
	}
}

// BenchmarkPyTorchFD001Score256 scores a batch of 256 windows ([256, 50,
// 14]) with the example's PyTorch 1D-CNN (examples/pytorch-fd001/model) on
// one ONNX Runtime thread: the scoring cost of a full batch, without
// feature computation. Target (issue 18): under 1 ms per op.
// EDGEPM_BENCH_PACKAGE names another package directory of the same input
// kind (for example a candidate network while choosing one).
//
//	go test -run '^$' -bench PyTorchFD001 -benchtime 200x -count 3 ./inference
func BenchmarkPyTorchFD001Score256(b *testing.B) {
	initRuntime(b)
	dir := "../examples/pytorch-fd001/model"
	if d := os.Getenv("EDGEPM_BENCH_PACKAGE"); d != "" {
		dir = d
	}
	pkg, err := modelpkg.LoadPackageDir(dir)
	if err != nil {
		b.Skip("example package not built:", err)
	}
	man, err := pkg.Decode()
	if err != nil {
		b.Fatal(err)
	}
	k, rerr := checkGraph(pkg.ONNX, man)
	if rerr != nil {
		b.Fatal(rerr)
	}
	const n = 256
	sc, err := newScorer(pkg.ONNX, man.InputName, man.OutputName, man.InputShape(), k, n, EngineConfig{}.withDefaults().Session)
	if err != nil {
		b.Fatal(err)
	}
	defer sc.destroy()
	in := sc.input(n)
	for i := 0; i < n; i++ {
		copy(in[i*sc.f:], man.Samples[i%len(man.Samples)].Input)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sc.runOn(sc.buckets[len(sc.buckets)-1].ins, len(sc.buckets)-1, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/window")
}
