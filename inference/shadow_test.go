package inference

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

// shadowPackage is packageFor with the graph of seed and the raise
// threshold raise (clear raise/2).
func shadowPackage(t testing.TB, name, version string, f int, seed uint64, raise float64) (*modelpkg.Package, *onnxgen.Model) {
	t.Helper()
	g := testGraph(f, 16, seed)
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	man := testManifest(name, version, g, testSpecs(f))
	man.Thresholds = Thresholds{Raise: raise, Clear: raise / 2}
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg, g
}

// feed observes n readings of each of devs, in order, and waits for want
// predictions in c.
func feed(t *testing.T, e *Engine, c *collector, devs []string, n, want int) []Prediction {
	t.Helper()
	for i := range n {
		for _, d := range devs {
			if err := e.Observe(context.Background(), shadowReading(d, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "served predictions", func() bool { return c.count() == want })
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.preds)
}

var shadowDevs = []string{"a", "b", "c"}

// shadowReading is reading with small values, which the test graphs do not
// saturate: scores vary from window to window.
func shadowReading(dev string, i int) Reading {
	r := reading(dev, i)
	x := float64(i) + float64(len(dev)+int(dev[0]))
	r.Values = map[string]float64{"vibration_rms": math.Sin(x * 0.7), "bearing_temp_c": math.Cos(x * 0.3),
		"current_a": float64(i%5) / 5, "speed_rpm": float64((i*7)%11) / 11}
	return r
}

// splitAt returns a threshold between two of scores, near their median,
// at least 1e-4 from each (ONNX Runtime and onnxgen.Eval differ by less).
func splitAt(t *testing.T, scores []float64) float64 {
	s := slices.Sorted(slices.Values(scores))
	for d := 0; d < len(s)/2; d++ {
		for _, i := range []int{len(s)/2 - d, len(s)/2 + d} {
			if i+1 < len(s) && s[i+1]-s[i] > 2e-4 {
				return (s[i] + s[i+1]) / 2
			}
		}
	}
	t.Fatalf("test data: no gap between the scores %v", s)
	return 0
}

const (
	shadowBatch    = 4 // many batches: a stalled shadow sees many to drop
	shadowReadings = 40
	shadowRows     = 3 * (shadowReadings - 9) // window 10, hop 1
)

// referenceRun returns the served model's predictions for the test
// readings, without a shadow.
func referenceRun(t *testing.T) []Prediction {
	e := newTestEngine(t, EngineConfig{IncludeFeatures: true, MaxDelay: -1, MaxBatch: shadowBatch})
	if err := e.Load(packageFor(t, "served", "1", 8, 7)); err != nil {
		t.Fatal(err)
	}
	return feed(t, e, startRun(t, e), shadowDevs, shadowReadings, shadowRows)
}

// sameServed fails unless got are the reference predictions, in order.
func sameServed(t *testing.T, got, ref []Prediction) {
	t.Helper()
	if len(got) != len(ref) {
		t.Fatalf("%d served predictions, reference run made %d", len(got), len(ref))
	}
	for i := range ref {
		g, r := got[i], ref[i]
		if g.Device != r.Device || !g.WindowEnd.Equal(r.WindowEnd) || g.FeatureHash != r.FeatureHash ||
			g.Score != r.Score || g.Model != "served" {
			t.Fatalf("served prediction %d is %+v, reference run %+v", i, g, r)
		}
	}
}

func TestShadowComparesOnSameWindows(t *testing.T) {
	ref := referenceRun(t)
	shadowG := testGraph(8, 16, 99)
	scores := make([]float64, len(ref))
	for i, p := range ref {
		scores[i] = float64(evalRef(shadowG, p.Features))
	}
	servedScores := make([]float64, len(ref))
	for i, p := range ref {
		servedScores[i] = p.Score
	}
	// Each model alerts on about half the windows, by its own threshold.
	raise, servedRaise := splitAt(t, scores), splitAt(t, servedScores)
	pkg, _ := shadowPackage(t, "challenger", "2", 8, 99, raise)
	servedPkg, _ := shadowPackage(t, "served", "1", 8, 7, servedRaise)

	var mu sync.Mutex
	var shadowPreds []Prediction
	e := newTestEngine(t, EngineConfig{IncludeFeatures: true, MaxDelay: -1, MaxBatch: shadowBatch, OnShadow: func(b *Batch) {
		if len(b.Alerts) != 0 {
			t.Errorf("shadow batch with %d alerts", len(b.Alerts))
		}
		mu.Lock()
		shadowPreds = b.AppendPredictions(shadowPreds)
		mu.Unlock()
	}})
	if err := e.Load(servedPkg); err != nil {
		t.Fatal(err)
	}
	if err := e.LoadShadow(pkg); err != nil {
		t.Fatal(err)
	}
	served := feed(t, e, startRun(t, e), shadowDevs, shadowReadings, shadowRows)
	sameServed(t, served, ref)
	waitFor(t, "shadow windows", func() bool { return e.ShadowStats().Windows == shadowRows })

	var agreed int
	var diff float64
	for i, p := range ref {
		if (p.Score >= servedRaise) == (scores[i] >= raise) {
			agreed++
		}
		diff += math.Abs(p.Score - scores[i])
	}
	if agreed == len(ref) || agreed == 0 {
		t.Fatalf("test data: the models agree on %d of %d windows; the test needs both cases", agreed, len(ref))
	}
	st := e.ShadowStats()
	wantAgree, wantDiff := float64(agreed)/float64(len(ref)), diff/float64(len(ref))
	if st.Name != "challenger" || st.Version != "2" || st.Dropped != 0 || st.Errors != 0 ||
		math.Abs(st.AlertAgreement-wantAgree) > 1e-9 || math.Abs(st.MeanAbsDiff-wantDiff) > 1e-6 {
		t.Fatalf("stats %+v, want agreement %v, mean abs diff %v", st, wantAgree, wantDiff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(shadowPreds) != len(ref) {
		t.Fatalf("%d shadow predictions, want %d", len(shadowPreds), len(ref))
	}
	for i, p := range shadowPreds { // one goroutine scores the shadow in batch order
		r := ref[i]
		if p.Model != "challenger" || p.ModelVersion != "2" || p.Device != r.Device || !p.WindowEnd.Equal(r.WindowEnd) ||
			p.FeatureHash != r.FeatureHash || math.Abs(p.Score-scores[i]) > 1e-5 {
			t.Fatalf("shadow prediction %d is %+v, want the window of %+v scored %v", i, p, r, scores[i])
		}
	}
	if got := testutil.ToFloat64(e.met.shadowScored); got != float64(len(ref)) {
		t.Fatalf("shadow_rows_scored_total = %v, want %d", got, len(ref))
	}
}

func TestShadowStalledOrFailingLeavesServedUnchanged(t *testing.T) {
	ref := referenceRun(t)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) func(*scorer, int) ([]float32, error)
	}{
		{"stalled", func(t *testing.T) func(*scorer, int) ([]float32, error) {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) }) // runs before the engine's Close
			return func(sc *scorer, n int) ([]float32, error) {
				<-release // the shadow's first batch never ends while the served model scores
				return sc.run(n)
			}
		}},
		{"failing", func(*testing.T) func(*scorer, int) ([]float32, error) {
			return func(*scorer, int) ([]float32, error) { return nil, errors.New("onnx runtime: out of memory") }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var emitted atomic.Int64
			e := newTestEngine(t, EngineConfig{IncludeFeatures: true, MaxDelay: -1, MaxBatch: shadowBatch, ShadowQueue: 1,
				OnShadow: func(b *Batch) { emitted.Add(int64(b.Len())) }})
			e.shadowRun = tc.run(t)
			if err := e.Load(packageFor(t, "served", "1", 8, 7)); err != nil {
				t.Fatal(err)
			}
			pkg, _ := shadowPackage(t, "challenger", "2", 8, 99, 0.5)
			if err := e.LoadShadow(pkg); err != nil {
				t.Fatal(err)
			}
			sameServed(t, feed(t, e, startRun(t, e), shadowDevs, shadowReadings, shadowRows), ref)
			st := e.ShadowStats()
			switch tc.name {
			case "stalled":
				// The inbox holds one row and the stalled run took one,
				// or, when every batch came before the shadow's goroutine
				// first ran, only the inbox's one was taken: the rest is
				// dropped.
				waitFor(t, "shadow drops", func() bool { return e.ShadowStats().Dropped >= shadowRows-2 })
				st = e.ShadowStats()
				queueFull := testutil.ToFloat64(e.met.shadowDropped.WithLabelValues(shadowQueueFull))
				if st.Windows != 0 || emitted.Load() != 0 || st.Dropped < shadowRows-2 || st.Dropped > shadowRows-1 || float64(st.Dropped) != queueFull {
					t.Fatalf("stats %+v, queue_full %v: want the windows the stalled shadow could not take dropped and counted", st, queueFull)
				}
			case "failing":
				waitFor(t, "shadow errors", func() bool { st := e.ShadowStats(); return st.Errors+st.Dropped == shadowRows })
				st = e.ShadowStats()
				if st.Windows != 0 || emitted.Load() != 0 || testutil.ToFloat64(e.met.shadowErrors) != float64(st.Errors) {
					t.Fatalf("stats %+v: want every window counted as a shadow error", st)
				}
			}
		})
	}
}

func TestLoadShadowRejectsOtherInput(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	pkg, _ := shadowPackage(t, "challenger", "2", 8, 99, 0.5)
	var rerr *modelpkg.RejectError
	if err := e.LoadShadow(pkg); !errors.As(err, &rerr) || rerr.Reason != modelpkg.ReasonShadowInput {
		t.Fatalf("shadow without a served model: %v", err)
	}
	if err := e.Load(packageFor(t, "served", "1", 8, 7)); err != nil {
		t.Fatal(err)
	}
	window := func(m *modelpkg.Manifest) { m.Window.Size = 20 }
	feature := func(m *modelpkg.Manifest) { m.Features[3].Stat = features.Kurtosis }
	for name, tc := range map[string]struct {
		pkg  *modelpkg.Package
		want string
	}{
		"feature count": {packageFor(t, "challenger", "2", 6, 99), "8 features (served) vs 6 (shadow)"},
		"window":        {variantOf(t, window), "window"},
		"feature":       {variantOf(t, feature), "features[3] speed_rpm.mean (served) vs speed_rpm.kurtosis (shadow)"},
	} {
		err := e.LoadShadow(tc.pkg)
		if !errors.As(err, &rerr) || rerr.Reason != modelpkg.ReasonShadowInput ||
			!strings.Contains(err.Error(), "challenger:2") || !strings.Contains(err.Error(), "served:1") ||
			!strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: LoadShadow = %v, want a %s rejection naming both models and %q", name, err, modelpkg.ReasonShadowInput, tc.want)
		}
	}
	if e.ShadowStats() != nil {
		t.Fatal("a rejected shadow is loaded")
	}
	ok, _ := shadowPackage(t, "challenger", "3", 8, 99, 0.5)
	if err := e.LoadShadow(ok); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(e.met.shadowInfo.WithLabelValues("challenger", "3")); got != 1 {
		t.Fatalf("shadow_model_info = %v", got)
	}
	e.ClearShadow()
	if e.ShadowStats() != nil || testutil.CollectAndCount(e.met.shadowInfo) != 0 {
		t.Fatal("ClearShadow left the shadow loaded or its info series")
	}
}

// variantOf returns the 8-feature challenger package with its manifest
// changed by edit.
func variantOf(t *testing.T, edit func(*modelpkg.Manifest)) *modelpkg.Package {
	g := testGraph(8, 16, 99)
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	man := testManifest("challenger", "2", g, testSpecs(8))
	edit(man)
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

func TestShadowWindowInputRenormalised(t *testing.T) {
	man := func(stats ...modelpkg.FeatureStat) *model {
		return &model{man: &modelpkg.Manifest{InputKind: modelpkg.InputWindow, Sensors: []string{"x", "y"},
			Window: features.WindowConfig{Size: 2}, FeatureStats: stats}}
	}
	served := man(modelpkg.FeatureStat{Mean: 1, Std: 2}, modelpkg.FeatureStat{Mean: 5, Std: 0})
	sh := man(modelpkg.FeatureStat{Mean: 3, Std: 4}, modelpkg.FeatureStat{Mean: -1, Std: 0.5})
	im, ok := shadowInput(served, sh)
	if !ok || im == nil {
		t.Fatalf("shadowInput = %v, %v", im, ok)
	}
	raw := []float64{7, 2, -3, 10} // t0: x, y; t1: x, y
	norm := func(m *model, c int, x float64) float32 {
		st := m.man.FeatureStats[c]
		return float32((x - st.Mean) * invStd(st.Std))
	}
	in, out := make([]float32, len(raw)), make([]float32, len(raw))
	for i, x := range raw {
		in[i] = norm(served, i%2, x)
	}
	im.apply(out, in)
	for i, x := range raw {
		if want := norm(sh, i%2, x); math.Abs(float64(out[i]-want)) > 1e-5 {
			t.Fatalf("value %d: %v, the shadow's own normalisation gives %v", i, out[i], want)
		}
	}
	if im, ok := shadowInput(served, served); !ok || im != nil {
		t.Fatal("equal statistics need no map")
	}
}
