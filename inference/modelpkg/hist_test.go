package modelpkg

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// NewHist cuts at the training deciles: a uniform sample gives 10 bins of
// a tenth each; ties merge edges and their bins keep the true shares;
// non-finite values are left out; the result validates.
func TestNewHist(t *testing.T) {
	var u []float64
	for i := range 1000 {
		u = append(u, float64(i))
	}
	h := NewHist(u)
	if want := []float64{100, 200, 300, 400, 500, 600, 700, 800, 900}; !slices.Equal(h.Edges, want) {
		t.Fatalf("uniform edges %v, want %v", h.Edges, want)
	}
	for j, s := range h.Shares {
		if s != 0.1 {
			t.Fatalf("uniform share %d = %g, want 0.1", j, s)
		}
	}
	// A machine stopped a quarter of the time: 250 zeros, then 750 values.
	tied := append(make([]float64, 250), u[:750]...)
	tied = append(tied, math.NaN(), math.Inf(1))
	h = NewHist(tied)
	if err := h.validate(); err != nil {
		t.Fatal(err)
	}
	if h.Edges[0] != 0 || h.Shares[0] != 0 || h.Shares[1] < 0.25 {
		t.Fatalf("tied: edges %v shares %v; want first edge 0, nothing below it, a quarter or more in [0, next)", h.Edges, h.Shares)
	}
	if len(h.Edges) >= 9 {
		t.Fatalf("tied: %d edges, want the repeated zero merged", len(h.Edges))
	}
	if NewHist([]float64{math.NaN()}) != nil {
		t.Fatal("no finite value: want nil")
	}
	one := NewHist([]float64{3})
	if !slices.Equal(one.Edges, []float64{3}) || !slices.Equal(one.Shares, []float64{0, 1}) || one.validate() != nil {
		t.Fatalf("one value: %+v", one)
	}
}

// PSI is about 0 for a sample of the training distribution and large for a
// new mode inside the training range.
func TestHistPSI(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var train []float64
	for range 20000 { // two classes: 1000 rpm and 3000 rpm, 5% stopped
		switch x := r.Float64(); {
		case x < 0.05:
			train = append(train, 0)
		case x < 0.5:
			train = append(train, 1000+r.NormFloat64()*20)
		default:
			train = append(train, 3000+r.NormFloat64()*20)
		}
	}
	h := NewHist(train)
	counts := func(vals []float64) []int64 {
		c := make([]int64, len(h.Shares))
		for _, v := range vals {
			c[h.Bin(v)]++
		}
		return c
	}
	if psi := h.PSI(counts(train[:5000])); psi > 0.02 {
		t.Errorf("PSI of training rows %.4f, want about 0", psi)
	}
	// A third class at 740 rpm, four fifths of the rows: the mean barely
	// moves in training stds, the histogram does.
	var served []float64
	for i := range 5000 {
		if i%5 == 0 {
			served = append(served, train[i])
		} else {
			served = append(served, 740+r.NormFloat64()*10)
		}
	}
	if psi := h.PSI(counts(served)); psi < 1 {
		t.Errorf("PSI with a new class %.3f, want > 1", psi)
	}
	if h.PSI(make([]int64, len(h.Shares))) != 0 || h.PSI([]int64{1}) != 0 {
		t.Error("PSI of no rows or of the wrong number of bins: want 0")
	}
	if got := h.Bin(math.NaN()); got != 0 {
		t.Errorf("Bin(NaN) = %d, want 0", got)
	}
}
