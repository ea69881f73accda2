package features

import (
	"fmt"
	"math"
)

// NewRawPlan returns a plan whose vector is the window itself, for models
// that take a sequence ([N, T, S] input kind "window"): size rows of the
// sensors' values, oldest first, row-major (row t holds sensor 0..S-1),
// each normalised as (x - mean[s]) / std[s] (std 0 counts as 1). A window
// holding fewer than size samples (min_samples < size) is padded at the
// front with rows of 0, the normalised training mean; a missing or
// non-finite value is 0 as well, counted as imputed. Its windows must be
// count windows of exactly size samples.
func NewRawPlan(sensors []string, size int, mean, std []float64) (*Plan, error) {
	switch {
	case len(sensors) == 0:
		return nil, fmt.Errorf("sensors: must not be empty")
	case size < 1:
		return nil, fmt.Errorf("window.size: must be >= 1 for a window input, got %d", size)
	case len(mean) != len(sensors) || len(std) != len(sensors):
		return nil, fmt.Errorf("feature_stats: %d entries for %d sensors", min(len(mean), len(std)), len(sensors))
	}
	p := &Plan{raw: &rawPlan{size: size, mean: append([]float64(nil), mean...), inv: make([]float64, len(std))}}
	for i, s := range sensors {
		if s == "" || indexOf(p.channels, s) >= 0 {
			return nil, fmt.Errorf("sensors[%d]: %q is empty or repeated", i, s)
		}
		p.channels = append(p.channels, s)
		p.raw.inv[i] = 1
		if std[i] > 0 {
			p.raw.inv[i] = 1 / std[i]
		}
	}
	return p, nil
}

// rawPlan is the state of a plan made by NewRawPlan.
type rawPlan struct {
	size      int
	mean, inv []float64
}

// Raw reports whether the plan is a raw window plan (NewRawPlan).
func (p *Plan) Raw() bool { return p.raw != nil }

// computeRaw is Compute for a raw window plan.
func (p *Plan) computeRaw(w *Window, dst []float32) (imputed int) {
	s, size := len(p.channels), p.raw.size
	n := min(w.n, size) // a larger window (not this plan's): its newest size samples
	pad := size - n
	clear(dst[:pad*s])
	for c := range p.channels {
		vals := w.channel(c)
		vals = vals[len(vals)-n:]
		for t, x := range vals {
			v := float32((x - p.raw.mean[c]) * p.raw.inv[c])
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				v = 0
				imputed++
			}
			dst[(pad+t)*s+c] = v
		}
	}
	return imputed
}
