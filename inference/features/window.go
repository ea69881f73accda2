package features

import (
	"math"
	"time"
)

// Window holds one device's recent samples for a fixed list of scalar
// channels, plus the newest waveform of each waveform channel. Create it with
// NewWindow or Plan.NewWindow. Not safe for concurrent use.
type Window struct {
	cfg      WindowConfig
	channels []string
	waves    []string
	// Samples live in [start, end) of times and vals[c]; the buffers have
	// twice the window capacity and are compacted when end reaches the end.
	times      []int64
	vals       [][]float64
	start, end int
	pending    int   // accepted readings since the last emitted row
	first      int64 // time of the first accepted reading (duration readiness)
	hasFirst   bool
	latest     []Waveform
	tsec       []float64 // scratch for Compute
	sums       []Summary // scratch for Compute
	summed     []bool
}

// PushResult describes what Push did with a reading.
type PushResult struct {
	// Ready is true when a feature row is due for the window's newest reading.
	Ready bool
	// Invalid counts NaN/Inf values among the window's channels (stored as missing).
	Invalid int
	// Missing counts the window's scalar channels absent from the reading.
	Missing int
}

// NewWindow returns an empty window over the scalar channels and waveform
// channels (either may be empty). cfg is completed with WithDefaults and
// must validate.
func NewWindow(cfg WindowConfig, channels, waveChannels []string) (*Window, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Window{
		cfg:      cfg,
		channels: append([]string(nil), channels...),
		waves:    append([]string(nil), waveChannels...),
		times:    make([]int64, 2*cfg.Size),
		vals:     make([][]float64, len(channels)),
		latest:   make([]Waveform, len(waveChannels)),
		tsec:     make([]float64, cfg.Size),
		sums:     make([]Summary, len(channels)),
		summed:   make([]bool, len(channels)),
	}
	for i := range w.vals {
		w.vals[i] = make([]float64, 2*cfg.Size)
	}
	return w, nil
}

// Config returns the window's effective configuration.
func (w *Window) Config() WindowConfig { return w.cfg }

// Len returns the number of samples held.
func (w *Window) Len() int { return w.end - w.start }

// End returns the time of the newest sample (zero time when empty).
func (w *Window) End() time.Time {
	if w.end == w.start {
		return time.Time{}
	}
	return time.Unix(0, w.times[w.end-1])
}

// Push adds a reading at time t. values maps channel name to value; waves
// maps waveform channel name to its newest block (either may be nil). See the
// package documentation for the handling of missing, NaN/Inf and out-of-order
// values.
func (w *Window) Push(t time.Time, values map[string]float64, waves map[string]Waveform) (PushResult, error) {
	var res PushResult
	ns := t.UnixNano()
	if w.end > w.start && ns < w.times[w.end-1] {
		return res, ErrOutOfOrder
	}
	valid := 0
	for _, ch := range w.channels {
		v, ok := values[ch]
		switch {
		case !ok:
			res.Missing++
		case math.IsNaN(v) || math.IsInf(v, 0):
			res.Invalid++
		default:
			valid++
		}
	}
	for i, ch := range w.waves {
		if wf, ok := waves[ch]; ok && len(wf.Samples) > 0 {
			w.latest[i] = wf
			valid++
		}
	}
	if valid == 0 {
		return res, ErrNoValues
	}
	w.appendSample(ns, values)
	res.Ready = w.due()
	return res, nil
}

func (w *Window) appendSample(ns int64, values map[string]float64) {
	if !w.hasFirst {
		w.first, w.hasFirst = ns, true
	}
	w.evict(ns)
	if w.end == len(w.times) {
		w.compact()
	}
	w.times[w.end] = ns
	for c, ch := range w.channels {
		v, ok := values[ch]
		if !ok || math.IsInf(v, 0) {
			v = math.NaN()
		}
		w.vals[c][w.end] = v
	}
	w.end++
	w.pending++
}

// evict drops samples that leave the window when a sample at ns arrives.
func (w *Window) evict(ns int64) {
	if w.end-w.start == w.cfg.Size {
		w.start++
	}
	if w.cfg.Kind == KindDuration {
		cut := ns - int64(w.cfg.Duration)
		for w.start < w.end && w.times[w.start] <= cut {
			w.start++
		}
	}
}

func (w *Window) compact() {
	n := copy(w.times, w.times[w.start:w.end])
	for _, v := range w.vals {
		copy(v, v[w.start:w.end])
	}
	w.start, w.end = 0, n
}

func (w *Window) ready() bool {
	n := w.end - w.start
	if w.cfg.Kind == KindCount {
		return n >= w.cfg.MinSamples
	}
	return n >= w.cfg.MinSamples && w.times[w.end-1]-w.first >= int64(w.cfg.Duration)
}

func (w *Window) due() bool {
	if !w.ready() || w.pending < w.cfg.Hop {
		return false
	}
	w.pending = 0
	return true
}

// Rebuild returns a new window with cfg and the given channels that holds
// as many of w's newest samples as fit (channels new to the window are
// missing in them), keeping the hop phase. It is used when a new model with a
// different window or feature spec takes over, so that scoring continues
// without a warm-up gap.
func (w *Window) Rebuild(cfg WindowConfig, channels, waveChannels []string) (*Window, error) {
	nw, err := NewWindow(cfg, channels, waveChannels)
	if err != nil {
		return nil, err
	}
	from := make([]int, len(channels))
	for i, ch := range channels {
		from[i] = indexOf(w.channels, ch)
	}
	for i := max(w.start, w.end-nw.cfg.Size); i < w.end; i++ {
		nw.evict(w.times[i])
		nw.times[nw.end] = w.times[i]
		for c, f := range from {
			v := math.NaN()
			if f >= 0 {
				v = w.vals[f][i]
			}
			nw.vals[c][nw.end] = v
		}
		nw.end++
	}
	for i, ch := range waveChannels {
		if f := indexOf(w.waves, ch); f >= 0 {
			nw.latest[i] = w.latest[f]
		}
	}
	nw.first, nw.hasFirst, nw.pending = w.first, w.hasFirst, w.pending
	return nw, nil
}

// SameShape reports whether w already has cfg and exactly these channels.
func (w *Window) SameShape(cfg WindowConfig, channels, waveChannels []string) bool {
	return w.cfg == cfg.WithDefaults() && equalStrings(w.channels, channels) && equalStrings(w.waves, waveChannels)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
