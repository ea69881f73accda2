package features

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestRawPlan(t *testing.T) {
	p, err := NewRawPlan([]string{"a", "b"}, 3, []float64{10, 0}, []float64{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Raw() || p.Len() != 6 || !slices.Equal(p.Channels(), []string{"a", "b"}) {
		t.Fatalf("raw %v len %d channels %v", p.Raw(), p.Len(), p.Channels())
	}
	w, err := p.NewWindow(WindowConfig{Size: 3, MinSamples: 1, Hop: 1})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, p.Len())
	push := func(sec int, v map[string]float64) {
		if _, err := w.Push(time.Unix(int64(sec), 0), v, nil); err != nil {
			t.Fatal(err)
		}
	}
	push(1, map[string]float64{"a": 12, "b": 5})
	if n := p.Compute(w, dst); n != 0 || !slices.Equal(dst, []float32{0, 0, 0, 0, 1, 5}) {
		t.Fatalf("partial window: %v imputed %d", dst, n)
	}
	push(2, map[string]float64{"a": 8})                  // b missing: 0, imputed
	push(3, map[string]float64{"a": math.NaN(), "b": 1}) // a not finite: 0, imputed
	push(4, map[string]float64{"a": 10, "b": -1})
	if n := p.Compute(w, dst); n != 2 || !slices.Equal(dst, []float32{-1, 0, 0, 1, 0, -1}) {
		t.Fatalf("full window: %v imputed %d", dst, n)
	}
	bad := []func() (*Plan, error){
		func() (*Plan, error) { return NewRawPlan(nil, 3, nil, nil) },
		func() (*Plan, error) { return NewRawPlan([]string{"a"}, 0, []float64{0}, []float64{1}) },
		func() (*Plan, error) { return NewRawPlan([]string{"a", "a"}, 3, []float64{0, 0}, []float64{1, 1}) },
		func() (*Plan, error) { return NewRawPlan([]string{"a"}, 3, nil, []float64{1}) },
	}
	for i, f := range bad {
		if _, err := f(); err == nil {
			t.Errorf("bad plan %d accepted", i)
		}
	}
	// A window larger than the plan's size gives its newest samples, never a panic.
	big, _ := p.NewWindow(WindowConfig{Size: 5, Hop: 1, MinSamples: 1})
	for i := 0; i < 5; i++ {
		big.Push(time.Unix(int64(i), 0), map[string]float64{"a": 10, "b": float64(i)}, nil)
	}
	p.Compute(big, dst)
	if !slices.Equal(dst, []float32{0, 2, 0, 3, 0, 4}) {
		t.Fatalf("larger window: %v", dst)
	}
}
