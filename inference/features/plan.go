package features

import (
	"fmt"
	"math"
	"sync"
)

// Plan computes a feature vector from a Window in the order of its specs.
// A Plan is immutable and safe for concurrent use.
type Plan struct {
	specs    []Spec
	fill     []float32
	channels []string // scalar channels, in order of first use
	waves    []string // waveform channels, in order of first use
	steps    []step
	raw      *rawPlan // non-nil: the vector is the normalised window (NewRawPlan)
}

type step struct {
	stat   Stat
	ch     int // index in channels (or waves for band energy)
	alpha  float64
	lo, hi float64
}

// NewPlan validates specs and returns their plan. fill holds, per feature,
// the value that replaces a statistic without valid samples (normally the
// training mean); nil means 0 for every feature.
func NewPlan(specs []Spec, fill []float32) (*Plan, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("features: empty feature spec")
	}
	if fill != nil && len(fill) != len(specs) {
		return nil, fmt.Errorf("features: %d fill values for %d features", len(fill), len(specs))
	}
	p := &Plan{specs: append([]Spec(nil), specs...), fill: make([]float32, len(specs))}
	copy(p.fill, fill)
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("features[%d] (%s): %w", i, s, err)
		}
		st := step{stat: s.Stat, alpha: s.alpha()}
		if s.Stat == BandEnergy {
			st.ch, p.waves = addChannel(p.waves, s.Sensor)
			st.lo, st.hi = s.Band[0], s.Band[1]
		} else {
			st.ch, p.channels = addChannel(p.channels, s.Sensor)
		}
		p.steps = append(p.steps, st)
	}
	for _, ch := range p.waves {
		if indexOf(p.channels, ch) >= 0 {
			return nil, fmt.Errorf("features: sensor %q used both as scalar and waveform channel", ch)
		}
	}
	return p, nil
}

func addChannel(chs []string, name string) (int, []string) {
	if i := indexOf(chs, name); i >= 0 {
		return i, chs
	}
	return len(chs), append(chs, name)
}

// Len returns the number of features (size × sensors for a raw plan).
func (p *Plan) Len() int {
	if p.raw != nil {
		return p.raw.size * len(p.channels)
	}
	return len(p.steps)
}

// Specs returns a copy of the feature specs.
func (p *Plan) Specs() []Spec { return append([]Spec(nil), p.specs...) }

// Channels returns the scalar channels the plan reads.
func (p *Plan) Channels() []string { return append([]string(nil), p.channels...) }

// WaveChannels returns the waveform channels the plan reads.
func (p *Plan) WaveChannels() []string { return append([]string(nil), p.waves...) }

// NewWindow returns an empty window with cfg over the plan's channels
// (the windows of one plan share its channel lists).
func (p *Plan) NewWindow(cfg WindowConfig) (*Window, error) {
	return newWindow(cfg, p.channels, p.waves)
}

// Rebuild is w.Rebuild for this plan's channels (see Window.Rebuild); the
// new window shares the plan's channel lists.
func (p *Plan) Rebuild(w *Window, cfg WindowConfig) (*Window, error) {
	nw, err := newWindow(cfg, p.channels, p.waves)
	if err != nil {
		return nil, err
	}
	w.copyInto(nw)
	return nw, nil
}

// Fits reports whether w was built for this plan's channels and cfg.
func (p *Plan) Fits(w *Window, cfg WindowConfig) bool {
	return w.SameShape(cfg, p.channels, p.waves)
}

// Compute writes the feature vector of w into dst (len(dst) >= Len()) and
// returns how many features were replaced by their fill value: those without
// valid samples and those whose value is not finite as a float32 (NaN, ±Inf,
// or a finite float64 beyond ±math.MaxFloat32, such as the mean of readings
// of 1e39); dst thus holds only finite values when the fill values are
// finite. w must have been built for this plan (Fits). Compute does not
// allocate except for band energies (FFT buffers).
func (p *Plan) Compute(w *Window, dst []float32) (imputed int) {
	w.linearize()
	if p.raw != nil {
		return p.computeRaw(w, dst)
	}
	sc := getScratch(w.n, len(w.channels))
	defer scratchPool.Put(sc)
	newest := w.times[w.n-1]
	ts := sc.tsec
	for i := range ts {
		ts[i] = float64(w.times[i]-newest) / 1e9
	}
	for i, st := range p.steps {
		// Checked after the float32 conversion, which turns values beyond
		// ±MaxFloat32 into ±Inf.
		v := float32(p.value(w, st, sc))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			v = p.fill[i]
			imputed++
		}
		dst[i] = v
	}
	return imputed
}

func (p *Plan) value(w *Window, st step, sc *scratch) float64 {
	switch st.stat {
	case BandEnergy:
		return BandPower(w.latest[st.ch], st.lo, st.hi)
	case EWMA:
		return EWMAOf(w.channel(st.ch), st.alpha)
	}
	if !sc.summed[st.ch] {
		sc.sums[st.ch] = Summarize(sc.tsec, w.channel(st.ch))
		sc.summed[st.ch] = true
	}
	return sc.sums[st.ch].Value(st.stat)
}

// scratch is Compute's working memory: sample times in seconds and the
// per-channel summaries of one call. It is pooled rather than kept in each
// window, which would cost every device its size.
type scratch struct {
	tsec   []float64
	sums   []Summary
	summed []bool
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// getScratch returns a pooled scratch for n samples of channels channels,
// with no channel summarised yet.
func getScratch(n, channels int) *scratch {
	sc := scratchPool.Get().(*scratch)
	if cap(sc.tsec) < n {
		sc.tsec = make([]float64, n)
	}
	if cap(sc.sums) < channels {
		sc.sums, sc.summed = make([]Summary, channels), make([]bool, channels)
	}
	sc.tsec, sc.sums, sc.summed = sc.tsec[:n], sc.sums[:channels], sc.summed[:channels]
	clear(sc.summed)
	return sc
}
