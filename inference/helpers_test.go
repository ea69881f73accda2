package inference

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
	"github.com/edgepm/edgepm/internal/testenv"
)

var testSensors = []string{"vibration_rms", "bearing_temp_c", "current_a", "speed_rpm"}

// initRuntime initialises ONNX Runtime for the test binary (skips if missing).
func initRuntime(t testing.TB) {
	t.Helper()
	if err := InitRuntime(testenv.ONNXRuntimeLib(t)); err != nil {
		t.Fatal(err)
	}
}

// testSpecs returns n feature specs cycling stats over the test sensors.
func testSpecs(n int) []features.Spec {
	stats := []features.Stat{features.Mean, features.Std, features.Max, features.Slope,
		features.RMS, features.Kurtosis, features.Last, features.EWMA}
	var specs []features.Spec
	for i := 0; len(specs) < n; i++ {
		specs = append(specs, features.Spec{Sensor: testSensors[i%len(testSensors)], Stat: stats[(i/len(testSensors))%len(stats)]})
	}
	return specs
}

// testGraph returns a deterministic MLP graph for f features.
func testGraph(f, hidden int, seed uint64) *onnxgen.Model {
	rng := rand.New(rand.NewPCG(seed, 1))
	w1 := make([][]float32, hidden)
	for i := range w1 {
		w1[i] = make([]float32, f)
		for j := range w1[i] {
			w1[i][j] = float32(rng.NormFloat64() * 0.01)
		}
	}
	w2 := [][]float32{make([]float32, hidden)}
	for j := range w2[0] {
		w2[0][j] = float32(rng.NormFloat64())
	}
	return &onnxgen.Model{Name: "test", InputName: "features", OutputName: "failure_probability", Producer: "test",
		Layers: []onnxgen.Dense{{W: w1, B: make([]float32, hidden), Act: onnxgen.ReLU}, {W: w2, B: []float32{-1}, Act: onnxgen.Sigmoid}}}
}

// testManifest returns a manifest for g with samples computed by onnxgen.Eval.
func testManifest(name, version string, g *onnxgen.Model, specs []features.Spec) *modelpkg.Manifest {
	m := &modelpkg.Manifest{SchemaVersion: 1, Name: name, Version: version, InputName: g.InputName, OutputName: g.OutputName,
		OutputSemantics: modelpkg.SemanticsFailureProbability, Window: features.WindowConfig{Size: 10, Hop: 1},
		Features: specs, Thresholds: Thresholds{Raise: 0.7, Clear: 0.5}}
	for i := 0; i < 3; i++ {
		in := make([]float32, len(specs))
		for j := range in {
			in[j] = float32(i*10 + j)
		}
		m.Samples = append(m.Samples, modelpkg.Sample{Input: in, Output: onnxgen.Eval(g, in)})
	}
	for range specs {
		m.FeatureStats = append(m.FeatureStats, modelpkg.FeatureStat{Mean: 1, Std: 2})
	}
	return m
}

func testPackage(t testing.TB, name, version string, f int) *modelpkg.Package {
	t.Helper()
	g := testGraph(f, 16, 7)
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := modelpkg.NewPackage(testManifest(name, version, g, testSpecs(f)), onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

func newTestEngine(t testing.TB, cfg EngineConfig) *Engine {
	t.Helper()
	initRuntime(t)
	e, err := NewEngine(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// collector gathers Run's output.
type collector struct {
	mu     sync.Mutex
	preds  []Prediction
	alerts []AlertEvent
}

func (c *collector) emit(b *Batch) {
	c.mu.Lock()
	c.preds = b.AppendPredictions(c.preds)
	c.alerts = append(c.alerts, b.Alerts...)
	c.mu.Unlock()
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.preds)
}

// startRun runs e.Run until the test ends.
func startRun(t testing.TB, e *Engine) *collector {
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, c.emit) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return c
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func reading(dev string, i int) Reading {
	return Reading{Device: dev, Time: time.Unix(1_700_000_000, 0).Add(time.Duration(i) * time.Second),
		Values: map[string]float64{"vibration_rms": 2 + float64(i%7)*0.1, "bearing_temp_c": 60 + float64(i%5),
			"current_a": 10, "speed_rpm": 1480 + float64(i%3)}}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func evalRef(g *onnxgen.Model, x []float32) float32 { return onnxgen.Eval(g, x)[0] }

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readDefault(t testing.TB) (manifest, onnx []byte) {
	return mustRead(t, "../models/default/manifest.json"), mustRead(t, "../models/default/model.onnx")
}
