package modelpkg

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Hist is a feature's training distribution as a histogram, for drift
// measures that a shift of the mean misses (a new machine class inside the
// training range, a second mode): Edges cut the real line into
// len(Edges)+1 bins, (-inf, Edges[0]), [Edges[0], Edges[1]), ...,
// [Edges[k-1], +inf), and Shares[j] is the fraction of training rows in
// bin j. Schema version 3 (feature_stats[].hist).
type Hist struct {
	Edges  []float64 `json:"edges"`
	Shares []float64 `json:"shares"`
}

// HistBins is the number of bins NewHist aims at (deciles); ties in the
// training values give fewer.
const HistBins = 10

// maxHistEdges bounds the edges a manifest may give per feature.
const maxHistEdges = 64

// NewHist returns the decile histogram of the finite values in vals: the
// edges are the training deciles, rounded to 6 significant digits and
// without repeats, and the shares count the values in each bin (rounded to
// 6 decimals). Nil when vals holds no finite value.
func NewHist(vals []float64) *Hist {
	v := slices.DeleteFunc(slices.Clone(vals), func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) })
	if len(v) == 0 {
		return nil
	}
	slices.Sort(v)
	h := &Hist{}
	for i := 1; i < HistBins; i++ {
		e := round6(v[i*len(v)/HistBins])
		if len(h.Edges) == 0 || e > h.Edges[len(h.Edges)-1] {
			h.Edges = append(h.Edges, e)
		}
	}
	counts := make([]int, len(h.Edges)+1)
	for _, x := range v {
		counts[h.Bin(x)]++
	}
	for _, c := range counts {
		h.Shares = append(h.Shares, math.Round(float64(c)/float64(len(v))*1e6)/1e6)
	}
	return h
}

// round6 rounds x to 6 significant digits (what a manifest needs to place
// a value in a bin, without the noise of the last bits).
func round6(x float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 6, 64), 64)
	return r
}

// Bin returns the bin of x: the number of edges at or below x. NaN is in
// bin 0. At most a few comparisons: a histogram has about 10 bins.
func (h *Hist) Bin(x float64) int {
	j := 0
	for j < len(h.Edges) && x >= h.Edges[j] {
		j++
	}
	return j
}

// psiFloor is the smallest share PSI uses, so an empty bin (in training or
// in serving) gives a large finite term instead of an infinite one.
const psiFloor = 1e-4

// PSI returns the population stability index of the serving counts (one
// per bin) against the training shares: sum over bins of (p - q) ln(p/q),
// with p the serving and q the training share, both floored at 1e-4.
// 0 when counts sum to 0. Common reading: below 0.1 stable, 0.1-0.25 a
// moderate shift, above 0.25 a significant one.
func (h *Hist) PSI(counts []int64) float64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	if n == 0 || len(counts) != len(h.Shares) {
		return 0
	}
	var psi float64
	for j, c := range counts {
		p := max(float64(c)/float64(n), psiFloor)
		q := max(h.Shares[j], psiFloor)
		psi += (p - q) * math.Log(p/q)
	}
	return psi
}

// validate checks edges finite and strictly increasing (1 to 64 of them)
// and one share per bin, each in [0, 1], adding up to 1 (within 1e-3).
func (h *Hist) validate() error {
	if len(h.Edges) == 0 || len(h.Edges) > maxHistEdges {
		return fmt.Errorf("hist: %d edges, want 1 to %d", len(h.Edges), maxHistEdges)
	}
	for i, e := range h.Edges {
		if math.IsNaN(e) || math.IsInf(e, 0) || (i > 0 && e <= h.Edges[i-1]) {
			return fmt.Errorf("hist: edges must be finite and strictly increasing, edge %d is %g", i, e)
		}
	}
	if len(h.Shares) != len(h.Edges)+1 {
		return fmt.Errorf("hist: %d shares for %d edges, want one per bin (%d)", len(h.Shares), len(h.Edges), len(h.Edges)+1)
	}
	var sum float64
	for j, s := range h.Shares {
		if !(s >= 0 && s <= 1) {
			return fmt.Errorf("hist: share %d is %g, want 0 to 1", j, s)
		}
		sum += s
	}
	if math.Abs(sum-1) > 1e-3 {
		return fmt.Errorf("hist: shares add up to %g, want 1", sum)
	}
	return nil
}

// HistsOf returns the decile histogram of each column of rows (NewHist).
func HistsOf(rows [][]float32, f int) []*Hist {
	col := make([]float64, 0, len(rows))
	hs := make([]*Hist, f)
	for j := range hs {
		col = col[:0]
		for _, r := range rows {
			if j < len(r) {
				col = append(col, float64(r[j]))
			}
		}
		hs[j] = NewHist(col)
	}
	return hs
}
