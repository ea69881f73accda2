package features

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func ts(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

func push(t *testing.T, w *Window, i int, v map[string]float64) PushResult {
	t.Helper()
	res, err := w.Push(ts(i), v, nil)
	if err != nil {
		t.Fatalf("push %d: %v", i, err)
	}
	return res
}

func TestCountWindowHop(t *testing.T) {
	w, err := NewWindow(WindowConfig{Size: 4, Hop: 3}, []string{"a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ready []int
	for i := 0; i < 12; i++ {
		if push(t, w, i, map[string]float64{"a": float64(i)}).Ready {
			ready = append(ready, i)
		}
	}
	// full at i=3 (pending 4 >= 3), then every 3 readings.
	want := []int{3, 6, 9}
	if len(ready) != len(want) || ready[0] != 3 || ready[1] != 6 || ready[2] != 9 {
		t.Fatalf("ready at %v, want %v", ready, want)
	}
	if w.Len() != 4 || !w.End().Equal(ts(11)) {
		t.Fatalf("len %d end %v", w.Len(), w.End())
	}
	p, _ := NewPlan([]Spec{{Sensor: "a", Stat: Min}, {Sensor: "a", Stat: Max}, {Sensor: "a", Stat: Count}}, nil)
	dst := make([]float32, 3)
	p.Compute(w, dst)
	if dst[0] != 8 || dst[1] != 11 || dst[2] != 4 {
		t.Fatalf("features %v, want [8 11 4]", dst)
	}
}

func TestCountWindowLongRunCompacts(t *testing.T) {
	w, _ := NewWindow(WindowConfig{Size: 3}, []string{"a"}, nil)
	p, _ := NewPlan([]Spec{{Sensor: "a", Stat: Mean}}, nil)
	dst := make([]float32, 1)
	for i := 0; i < 100; i++ {
		res := push(t, w, i, map[string]float64{"a": float64(i)})
		if res.Ready != (i >= 2) {
			t.Fatalf("i=%d ready=%v", i, res.Ready)
		}
		if res.Ready {
			p.Compute(w, dst)
			if dst[0] != float32(i-1) {
				t.Fatalf("i=%d mean %v", i, dst[0])
			}
		}
	}
}

func TestDurationWindow(t *testing.T) {
	w, err := NewWindow(WindowConfig{Kind: KindDuration, Duration: Duration(10 * time.Second), MinSamples: 3}, []string{"a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := NewPlan([]Spec{{Sensor: "a", Stat: Count}, {Sensor: "a", Stat: Min}}, nil)
	dst := make([]float32, 2)
	for i := 0; i <= 30; i += 2 { // a reading every 2 s
		res := push(t, w, i, map[string]float64{"a": float64(i)})
		if res.Ready != (i >= 10) {
			t.Fatalf("t=%ds ready=%v", i, res.Ready)
		}
	}
	p.Compute(w, dst)
	// Window (20s, 30s]: 22..30 -> 5 samples.
	if dst[0] != 5 || dst[1] != 22 {
		t.Fatalf("duration window features %v, want [5 22]", dst)
	}
	// Bad duration configs are rejected.
	for _, c := range []WindowConfig{{Kind: KindDuration}, {Kind: "sliding"}, {Size: -1}, {Hop: -2}, {Duration: Duration(time.Second)}} {
		if _, err := NewWindow(c, []string{"a"}, nil); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestMissingNaNInfAndOutOfOrder(t *testing.T) {
	w, _ := NewWindow(WindowConfig{Size: 4}, []string{"a", "b"}, nil)
	p, _ := NewPlan([]Spec{{Sensor: "a", Stat: Mean}, {Sensor: "b", Stat: Mean}, {Sensor: "b", Stat: Count}, {Sensor: "a", Stat: Count}},
		[]float32{-1, 42, -1, -1})
	if res := push(t, w, 0, map[string]float64{"a": 1}); res.Missing != 1 {
		t.Fatalf("missing = %d", res.Missing)
	}
	if res := push(t, w, 1, map[string]float64{"a": 3, "b": math.NaN()}); res.Invalid != 1 {
		t.Fatalf("invalid = %d", res.Invalid)
	}
	// Both values invalid -> no valid value -> ErrNoValues, window unchanged.
	if res, err := w.Push(ts(2), map[string]float64{"a": math.Inf(1), "b": math.NaN()}, nil); !errors.Is(err, ErrNoValues) || res.Invalid != 2 || w.Len() != 2 {
		t.Fatalf("want ErrNoValues with 2 invalid and window unchanged, got %v %+v len %d", err, res, w.Len())
	}
	if _, err := w.Push(ts(3), map[string]float64{"other": 1}, nil); !errors.Is(err, ErrNoValues) {
		t.Fatalf("want ErrNoValues, got %v", err)
	}
	// Out of order: older than newest -> rejected.
	if _, err := w.Push(ts(0), map[string]float64{"a": 100}, nil); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("want ErrOutOfOrder, got %v", err)
	}
	// Equal timestamp accepted.
	push(t, w, 1, map[string]float64{"a": 5})
	res := push(t, w, 4, map[string]float64{"a": 7, "b": math.NaN()})
	if !res.Ready {
		t.Fatal("window of 4 should be ready")
	}
	dst := make([]float32, 4)
	imputed := p.Compute(w, dst)
	// a: 1,3,5,7 -> mean 4; b: no valid samples -> mean imputed with 42, count 0.
	if dst[0] != 4 || dst[1] != 42 || dst[2] != 0 || dst[3] != 4 || imputed != 1 {
		t.Fatalf("features %v imputed %d", dst, imputed)
	}
	for _, v := range dst {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite feature")
		}
	}
}

func TestRebuildKeepsSamples(t *testing.T) {
	w, _ := NewWindow(WindowConfig{Size: 5, Hop: 2}, []string{"a", "b"}, nil)
	for i := 0; i < 7; i++ {
		push(t, w, i, map[string]float64{"a": float64(i), "b": float64(10 * i)})
	}
	nw, err := w.Rebuild(WindowConfig{Size: 3, Hop: 2}, []string{"b", "c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if nw.Len() != 3 || !nw.End().Equal(w.End()) {
		t.Fatalf("rebuilt len %d end %v", nw.Len(), nw.End())
	}
	p, _ := NewPlan([]Spec{{Sensor: "b", Stat: Min}, {Sensor: "c", Stat: Count}}, nil)
	if !p.Fits(nw, WindowConfig{Size: 3, Hop: 2}) || p.Fits(w, WindowConfig{Size: 3, Hop: 2}) {
		t.Fatal("Fits wrong")
	}
	dst := make([]float32, 2)
	p.Compute(nw, dst)
	if dst[0] != 40 || dst[1] != 0 {
		t.Fatalf("rebuilt features %v, want [40 0]", dst)
	}
	// Out-of-order protection survives the rebuild.
	if _, err := nw.Push(ts(3), map[string]float64{"b": 1}, nil); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("want ErrOutOfOrder, got %v", err)
	}
}

func TestWaveformFeature(t *testing.T) {
	p, err := NewPlan([]Spec{{Sensor: "vib", Stat: BandEnergy, Band: []float64{40, 60}}, {Sensor: "temp", Stat: Last}}, []float32{-1, -1})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := NewExtractor(p, WindowConfig{Size: 2})
	sine := make([]float64, 256)
	for i := range sine {
		sine[i] = math.Sin(2 * math.Pi * 50 * float64(i) / 256)
	}
	if _, ok, err := x.Push("d", ts(0), map[string]float64{"temp": 20}, nil); ok || err != nil {
		t.Fatalf("first push ok=%v err=%v", ok, err)
	}
	row, ok, err := x.Push("d", ts(1), nil, map[string]Waveform{"vib": {RateHz: 256, Samples: sine}})
	if !ok || err != nil {
		t.Fatalf("second push ok=%v err=%v", ok, err)
	}
	if math.Abs(float64(row.Features[0])-0.5) > 1e-6 || row.Features[1] != 20 {
		t.Fatalf("features %v, want [0.5 20]", row.Features)
	}
}

func TestSpecValidate(t *testing.T) {
	bad := []Spec{
		{Sensor: "", Stat: Mean},
		{Sensor: "a", Stat: "median"},
		{Sensor: "a", Stat: Mean, Alpha: 0.5},
		{Sensor: "a", Stat: EWMA, Alpha: 2},
		{Sensor: "a", Stat: BandEnergy},
		{Sensor: "a", Stat: BandEnergy, Band: []float64{10, 5}},
		{Sensor: "a", Stat: Max, Band: []float64{1, 2}},
	}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("spec %+v accepted", s)
		}
	}
	if _, err := NewPlan([]Spec{{Sensor: "a", Stat: Mean}, {Sensor: "a", Stat: BandEnergy, Band: []float64{0, 1}}}, nil); err == nil {
		t.Error("sensor used as scalar and waveform accepted")
	}
	for _, st := range Stats() {
		if !Known(st) {
			t.Errorf("%s not known", st)
		}
	}
}

// TestCountWindowMinSamples: a count window with MinSamples < Size is ready
// from its MinSamples-th reading, over the samples held so far, and then
// slides like a full window. MinSamples 1 with Hop 1 gives a row for every
// reading, the first one included.
func TestCountWindowMinSamples(t *testing.T) {
	p, _ := NewPlan([]Spec{{Sensor: "a", Stat: Count}, {Sensor: "a", Stat: Mean}, {Sensor: "a", Stat: Std}}, nil)
	dst := make([]float32, 3)
	cases := []struct {
		cfg       WindowConfig
		wantReady []int // reading indexes (0-based) that emit a row
	}{
		{WindowConfig{Size: 4, MinSamples: 1}, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{WindowConfig{Size: 4, MinSamples: 2}, []int{1, 2, 3, 4, 5, 6, 7}},
		{WindowConfig{Size: 4, MinSamples: 1, Hop: 3}, []int{2, 5}},
		{WindowConfig{Size: 4, MinSamples: 4}, []int{3, 4, 5, 6, 7}}, // = the default
		{WindowConfig{Size: 4}, []int{3, 4, 5, 6, 7}},
	}
	for _, c := range cases {
		w, err := NewWindow(c.cfg, []string{"a"}, nil)
		if err != nil {
			t.Fatalf("%+v: %v", c.cfg, err)
		}
		var ready []int
		for i := 0; i < 8; i++ {
			if !push(t, w, i, map[string]float64{"a": float64(i)}).Ready {
				continue
			}
			ready = append(ready, i)
			p.Compute(w, dst)
			n := min(i+1, 4) // samples held: partial until full
			mean := float64(i) - float64(n-1)/2
			if dst[0] != float32(n) || dst[1] != float32(mean) {
				t.Fatalf("%+v reading %d: count, mean = %v, %v; want %d, %v", c.cfg, i, dst[0], dst[1], n, mean)
			}
			if i == 0 && dst[2] != 0 {
				t.Fatalf("%+v: std of one sample = %v, want 0", c.cfg, dst[2])
			}
		}
		if len(ready) != len(c.wantReady) {
			t.Fatalf("%+v: ready at %v, want %v", c.cfg, ready, c.wantReady)
		}
		for i := range ready {
			if ready[i] != c.wantReady[i] {
				t.Fatalf("%+v: ready at %v, want %v", c.cfg, ready, c.wantReady)
			}
		}
	}
	// The default is spelled out by WithDefaults, so a window built from
	// either form fits a plan asking for the other.
	if got := (WindowConfig{Size: 4}).WithDefaults().MinSamples; got != 4 {
		t.Fatalf("default count min_samples = %d, want size 4", got)
	}
	w, _ := NewWindow(WindowConfig{Size: 4}, []string{"a"}, nil)
	if !w.SameShape(WindowConfig{Size: 4, MinSamples: 4}, []string{"a"}, nil) {
		t.Fatal("explicit default min_samples is a different shape")
	}
	for _, bad := range []WindowConfig{{Size: 4, MinSamples: 5}, {Size: 4, MinSamples: -1}, {Kind: KindDuration, Duration: Duration(time.Second), Size: 3, MinSamples: 4}} {
		err := bad.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), "window.min_samples") {
			t.Errorf("config %+v: err %v, want a window.min_samples error", bad, err)
		}
	}
}

// TestRingMatchesFreshWindow: a window that has wrapped its ring many
// times (computed at every hop, and not) gives the same features as a new
// window fed only the samples it holds, for order-dependent statistics
// (last, ewma, slope) too, in count and duration windows.
func TestRingMatchesFreshWindow(t *testing.T) {
	specs := []Spec{{Sensor: "a", Stat: Last}, {Sensor: "a", Stat: EWMA}, {Sensor: "a", Stat: Slope},
		{Sensor: "b", Stat: Mean}, {Sensor: "b", Stat: Count}, {Sensor: "a", Stat: Min}}
	p, err := NewPlan(specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []WindowConfig{{Size: 7, Hop: 3}, {Kind: KindDuration, Duration: Duration(5 * time.Second), Size: 8, MinSamples: 2}} {
		w, _ := p.NewWindow(cfg)
		for i := 0; i < 50; i++ {
			v := map[string]float64{"a": float64(i*i%13) + 0.5}
			if i%4 != 0 {
				v["b"] = float64(i)
			}
			if !push(t, w, i, v).Ready {
				continue
			}
			fresh, _ := p.NewWindow(WindowConfig{Kind: KindCount, Size: w.Len(), MinSamples: 1})
			for j := i - w.Len() + 1; j <= i; j++ {
				fv := map[string]float64{"a": float64(j*j%13) + 0.5}
				if j%4 != 0 {
					fv["b"] = float64(j)
				}
				push(t, fresh, j, fv)
			}
			got, want := make([]float32, len(specs)), make([]float32, len(specs))
			p.Compute(w, got)
			p.Compute(fresh, want)
			for k := range got {
				if got[k] != want[k] && !(math.IsNaN(float64(got[k])) && math.IsNaN(float64(want[k]))) {
					t.Fatalf("%+v at %d: feature %s = %v, fresh window %v", cfg, i, specs[k], got[k], want[k])
				}
			}
		}
	}
}
