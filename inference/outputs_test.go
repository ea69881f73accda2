package inference

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

// TestFeatureBeyondFloat32IsImputed: a finite reading above the float32
// range (1e39) must not become +Inf in the feature vector.
func TestFeatureBeyondFloat32IsImputed(t *testing.T) {
	e := newTestEngine(t, EngineConfig{IncludeFeatures: true})
	if err := e.Load(testPackage(t, "m", "1", 8)); err != nil {
		t.Fatal(err)
	}
	c := startRun(t, e)
	for i := 0; i < 10; i++ {
		r := reading("a", i)
		r.Values["vibration_rms"] = 1e39 // finite as float64, +Inf as float32
		if err := e.Observe(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the row scored", func() bool { return c.count()+int(testutil.ToFloat64(e.met.badOutputs)) == 1 })
	if c.count() != 1 {
		t.Fatal("no prediction: the feature vector gave a non-finite output")
	}
	p := c.preds[0]
	for j, f := range p.Features {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			t.Fatalf("feature %d (%s) = %v", j, testSpecs(8)[j], f)
		}
	}
	if p.Features[0] != 1 { // vibration_rms.mean -> the training mean
		t.Fatalf("vibration_rms.mean = %v, want the fill value 1", p.Features[0])
	}
	if n := testutil.ToFloat64(e.met.imputed); n < 1 {
		t.Fatalf("imputed features counted: %v", n)
	}
	if _, err := json.Marshal(p); err != nil || math.IsNaN(p.Score) {
		t.Fatalf("prediction not encodable: score %v, %v", p.Score, err)
	}
}

// nanPackage returns a 4-feature model whose output is NaN when feature 0
// (vibration_rms.mean) is large (1e30*x overflows to Inf; Inf - Inf = NaN)
// and 0 otherwise, with valid samples.
func nanPackage(t testing.TB) *modelpkg.Package {
	w := [][]float32{{1e30, 0, 0, 0}, {1e30, 0, 0, 0}}
	return layersPackage(t, "nan", "1", onnxgen.Dense{W: w, B: []float32{0, 0}, Act: onnxgen.ReLU},
		onnxgen.Dense{W: [][]float32{{1, -1}}, B: []float32{0}})
}

// constPackage returns a 4-feature model that scores sigmoid(b) whatever
// the features.
func constPackage(t testing.TB, version string, b float32) *modelpkg.Package {
	return layersPackage(t, "const", version, onnxgen.Dense{W: [][]float32{make([]float32, 4)}, B: []float32{b}, Act: onnxgen.Sigmoid})
}

// layersPackage packages a graph of layers over the means of the 4 test
// sensors (training stats mean 1, std 2; thresholds raise 0.7, clear 0.5).
func layersPackage(t testing.TB, name, version string, layers ...onnxgen.Dense) *modelpkg.Package {
	t.Helper()
	g := &onnxgen.Model{Name: name, InputName: "features", OutputName: "failure_probability", Producer: "test", Layers: layers}
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	specs := []features.Spec{{Sensor: "vibration_rms", Stat: features.Mean}, {Sensor: "bearing_temp_c", Stat: features.Mean},
		{Sensor: "current_a", Stat: features.Mean}, {Sensor: "speed_rpm", Stat: features.Mean}}
	pkg, err := modelpkg.NewPackage(testManifest(name, version, g, specs), onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// TestNonFiniteOutputsAreNotPredictions: a row whose model output is NaN
// gives no prediction, is counted, and does not touch alert state; the
// other rows of the batch are emitted.
func TestNonFiniteOutputsAreNotPredictions(t *testing.T) {
	e := newTestEngine(t, EngineConfig{MaxDelay: -1})
	if err := e.Load(nanPackage(t)); err != nil {
		t.Fatal(err)
	}
	obs := func(r Reading) {
		if err := e.Observe(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 12; i++ { // 3 rows of "b" with NaN outputs
		r := reading("b", i)
		r.Values["vibration_rms"] = 1e10
		obs(r)
	}
	for i := 0; i < 10; i++ { // then 1 finite row of "a"
		obs(reading("a", i))
	}
	c := startRun(t, e)
	// Rows are scored in queue order: once a's row is out, b's were scored.
	waitFor(t, "a's prediction", func() bool { return c.count() >= 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.preds) != 1 || c.preds[0].Device != "a" || c.preds[0].Score != 0 {
		t.Fatalf("predictions %+v, want only a's (score 0)", c.preds)
	}
	if _, err := json.Marshal(c.preds); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(e.met.badOutputs); n != 3 {
		t.Fatalf("invalid outputs counted %v, want 3", n)
	}
	if n := testutil.ToFloat64(e.met.rows); n != 1 {
		t.Fatalf("rows scored %v, want 1", n)
	}
}

func TestRateLog(t *testing.T) {
	var r rateLog
	at := func(s int) bool { ok, _ := r.allow(t0().Add(time.Duration(s)*time.Second), 10*time.Second); return ok }
	if !at(0) || at(1) || at(9) || !at(10) || at(19) {
		t.Fatal("rate limit not applied")
	}
	if _, n := r.allow(t0().Add(time.Minute), 10*time.Second); n != 1 {
		t.Fatalf("suppressed %d, want 1", n)
	}
}

func TestAllFinite(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for n := 0; n <= 9; n++ {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i) - 3.5
		}
		if !allFinite(v) {
			t.Fatalf("n=%d: finite values reported non-finite", n)
		}
		for i := range v {
			for _, bad := range []float32{inf, -inf, nan} {
				w := slices.Clone(v)
				w[i] = bad
				if allFinite(w) || finite(w) {
					t.Fatalf("n=%d: %v at %d not caught", n, bad, i)
				}
			}
		}
	}
	big := []float32{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}
	if !allFinite(big) {
		t.Fatal("extreme finite values reported non-finite")
	}
}

// TestBatchCompactionKeepsRowsAndOutputsPaired: in one batch that mixes
// rows with non-finite outputs among finite ones, across a model swap, each
// prediction carries its own row's outputs (the rows and outputs are moved
// down together), in queue order.
func TestBatchCompactionKeepsRowsAndOutputsPaired(t *testing.T) {
	// Two outputs: out0 = x0 (the standardised vibration mean, distinct per
	// row), out1 = 1e30*x1 - 1e30*x1: 0, or NaN when bearing_temp_c is
	// huge (Inf - Inf).
	pkg := func(version string) *modelpkg.Package {
		return layersPackage(t, "pair", version,
			onnxgen.Dense{W: [][]float32{{1, 0, 0, 0}, {0, 1e30, 0, 0}, {0, 1e30, 0, 0}}, B: []float32{0, 0, 0}},
			onnxgen.Dense{W: [][]float32{{1, 0, 0}, {0, 1, -1}}, B: []float32{0, 0}})
	}
	e := newTestEngine(t, EngineConfig{MaxBatch: 1000, MaxDelay: time.Second})
	if err := e.Load(pkg("1")); err != nil {
		t.Fatal(err)
	}
	want := map[string]float32{} // device@window-end -> out0 of a finite row
	obs := func(dev string, i int, bad bool) {
		r := reading(dev, i)
		r.Values["vibration_rms"] = float64(i) // window mean differs per row
		if bad {
			r.Values["bearing_temp_c"] = 1e10
		}
		if err := e.Observe(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	// Queue everything before Run starts, so it is scored as one batch:
	// devices a (finite), b (NaN for some rows), across a swap to "2".
	for i := 0; i < 30; i++ {
		if i == 20 {
			if err := e.Load(pkg("2")); err != nil {
				t.Fatal(err)
			}
		}
		obs("a", i, false)
		obs("b", i, i%3 == 0 || i >= 25) // windows of 10 hold a huge value from then on
	}
	// Expected out0 for a row: the mean of the vibration values in its
	// window (the models have the same window, which the swap keeps).
	for _, dev := range []string{"a", "b"} {
		for i := 9; i < 30; i++ {
			var sum float64
			for j := i - 9; j <= i; j++ {
				sum += float64(j)
			}
			want[fmt.Sprintf("%s@%d", dev, i)] = float32(sum / 10)
		}
	}
	c := startRun(t, e)
	// Every row gives a prediction or counts as non-finite: wait for all.
	waitFor(t, "every row scored", func() bool {
		return c.count()+int(testutil.ToFloat64(e.met.badOutputs)) == len(want)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if testutil.ToFloat64(e.met.badOutputs) == 0 {
		t.Fatal("no non-finite rows in the batch: the test does not test compaction")
	}
	last := map[string]time.Time{}
	for _, p := range c.preds {
		i := int(p.WindowEnd.Sub(reading("", 0).Time) / time.Second)
		k := fmt.Sprintf("%s@%d", p.Device, i)
		w, ok := want[k]
		if !ok {
			t.Errorf("unexpected prediction %s (model %s)", k, p.ModelVersion)
			continue
		}
		if len(p.Outputs) != 2 || math.Abs(float64(p.Outputs[0]-w)) > 1e-4 || p.Outputs[1] != 0 || p.Score != float64(p.Outputs[0]) {
			t.Errorf("%s: outputs %v score %v, want [%v 0]: rows and outputs out of step", k, p.Outputs, p.Score, w)
		}
		if !p.WindowEnd.After(last[p.Device]) {
			t.Errorf("%s: out of order", k)
		}
		last[p.Device] = p.WindowEnd
	}
	if len(c.preds) == 0 {
		t.Fatal("no predictions")
	}
}

// TestCopyRows: runs of adjacent rows are copied at once, rows from
// another slab, out of order or with their own memory one by one; the
// result is the rows' vectors in order either way.
func TestCopyRows(t *testing.T) {
	const f, slabRows = 3, 8
	a := newFeatArena(f, slabRows)
	var rows []row
	add := func(r row) {
		for j := range r.feat {
			r.feat[j] = float32(len(rows)*10 + j)
		}
		rows = append(rows, r)
	}
	take := func() row {
		feat, s, idx := a.take()
		return row{feat: feat, slab: s, idx: idx}
	}
	for range 5 {
		add(take())
	}
	add(row{feat: make([]float32, f)}) // own memory
	r1, r2 := take(), take()
	add(r2) // adjacent in memory, but queued in the other order
	add(r1)
	for range 2 * slabRows { // across slab boundaries
		add(take())
	}
	if cap(rows[0].feat) != f {
		t.Fatalf("vector capacity %d, want %d (an append would overwrite the next row)", cap(rows[0].feat), f)
	}
	dst := make([]float32, len(rows)*f)
	copyRows(dst, rows, f)
	for i := range rows {
		for j := range f {
			if got, want := dst[i*f+j], float32(i*10+j); got != want {
				t.Fatalf("row %d value %d: %v, want %v", i, j, got, want)
			}
		}
	}
}

// TestBatchStats: runs and rows per run export as a counter and a
// histogram with power-of-two buckets, as the client_golang histogram did.
func TestBatchStats(t *testing.T) {
	b := &batchStats{}
	b.init("edgepm", "inference")
	for _, n := range []int{1, 2, 3, 4, 5, 256, 2048, 2049, 5000} {
		b.observe(n)
	}
	want := `
# HELP edgepm_inference_batch_rows Rows per ONNX Runtime run.
# TYPE edgepm_inference_batch_rows histogram
edgepm_inference_batch_rows_bucket{le="1"} 1
edgepm_inference_batch_rows_bucket{le="2"} 2
edgepm_inference_batch_rows_bucket{le="4"} 4
edgepm_inference_batch_rows_bucket{le="8"} 5
edgepm_inference_batch_rows_bucket{le="16"} 5
edgepm_inference_batch_rows_bucket{le="32"} 5
edgepm_inference_batch_rows_bucket{le="64"} 5
edgepm_inference_batch_rows_bucket{le="128"} 5
edgepm_inference_batch_rows_bucket{le="256"} 6
edgepm_inference_batch_rows_bucket{le="512"} 6
edgepm_inference_batch_rows_bucket{le="1024"} 6
edgepm_inference_batch_rows_bucket{le="2048"} 7
edgepm_inference_batch_rows_bucket{le="+Inf"} 9
edgepm_inference_batch_rows_sum 9368
edgepm_inference_batch_rows_count 9
# HELP edgepm_inference_batches_total ONNX Runtime runs.
# TYPE edgepm_inference_batches_total counter
edgepm_inference_batches_total 9
`
	if err := testutil.CollectAndCompare(b, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if b.count() != 9 {
		t.Fatalf("count %d", b.count())
	}
}

// TestPow2HistBucket: the bucket found without division is the least i
// with v <= start<<i (else the overflow bucket), for starts that are and
// are not powers of two, around every bound.
func TestPow2HistBucket(t *testing.T) {
	for _, start := range []uint64{1, 2, 3, 7, 1000, 1024, 50_000, 1<<40 + 1} {
		for _, n := range []int{1, 2, 12, 14, maxPow2Buckets} {
			var h pow2Hist
			h.init(nil, start, n, 1)
			want := func(v uint64) int {
				for i := range n {
					if v <= start<<i {
						return i
					}
				}
				return n
			}
			vs := []uint64{0, 1, 2, 3, math.MaxUint64, math.MaxUint64 - 1}
			for i := range n + 2 {
				b := start << i
				vs = append(vs, b-1, b, b+1, b/2+1)
			}
			for _, v := range vs {
				if got := h.bucket(v); got != want(v) {
					t.Fatalf("start %d, %d buckets: bucket(%d) = %d, want %d", start, n, v, got, want(v))
				}
			}
		}
	}
}

// TestLatencyHistogram: window-to-prediction samples in nanoseconds export
// in seconds with bounds 50 us, 100 us, ... 409.6 ms (inclusive).
func TestLatencyHistogram(t *testing.T) {
	m, err := newMetrics(nil, func() float64 { return 0 }, func() float64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, 50 * time.Microsecond, 50*time.Microsecond + 1, 100 * time.Microsecond,
		3 * time.Millisecond, 409600 * time.Microsecond, time.Second} {
		m.latency.observe(uint64(d))
	}
	want := `
# HELP edgepm_inference_window_to_prediction_seconds Time from a window being ready to its prediction being emitted, sampled in one batch of 8 (its oldest row).
# TYPE edgepm_inference_window_to_prediction_seconds histogram
edgepm_inference_window_to_prediction_seconds_bucket{le="5e-05"} 2
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0001"} 4
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0002"} 4
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0004"} 4
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0008"} 4
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0016"} 4
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0032"} 5
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0064"} 5
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0128"} 5
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0256"} 5
edgepm_inference_window_to_prediction_seconds_bucket{le="0.0512"} 5
edgepm_inference_window_to_prediction_seconds_bucket{le="0.1024"} 5
edgepm_inference_window_to_prediction_seconds_bucket{le="0.2048"} 5
edgepm_inference_window_to_prediction_seconds_bucket{le="0.4096"} 6
edgepm_inference_window_to_prediction_seconds_bucket{le="+Inf"} 7
edgepm_inference_window_to_prediction_seconds_sum 1.412800001
edgepm_inference_window_to_prediction_seconds_count 7
`
	if err := testutil.CollectAndCompare(&m.latency, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
