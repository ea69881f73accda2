package features

import (
	"math"
	"slices"
	"time"
)

// Window holds one device's recent samples for a fixed list of scalar
// channels, plus the newest waveform of each waveform channel. Create it with
// NewWindow or Plan.NewWindow. Not safe for concurrent use.
//
// Memory: a window holds exactly cfg.Size samples (a ring) and nothing else
// per sample; the scratch Compute needs comes from a pool, not the window,
// so that a gateway with many devices pays for their samples only.
type Window struct {
	cfg      WindowConfig
	channels []string
	waves    []string
	// The n samples are at ring positions head, head+1, ... (mod cfg.Size)
	// of times and of each channel's segment vals[c*cfg.Size:(c+1)*cfg.Size],
	// oldest first. linearize rotates them to positions [0, n).
	times    []int64
	vals     []float64
	head, n  int
	pending  int   // accepted readings since the last emitted row
	first    int64 // time of the first accepted reading (duration readiness)
	hasFirst bool
	latest   []Waveform
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
	return newWindow(cfg, slices.Clone(channels), slices.Clone(waveChannels))
}

// newWindow is NewWindow keeping channels and waveChannels, which the
// caller must not modify (the windows of one Plan share its lists).
func newWindow(cfg WindowConfig, channels, waveChannels []string) (*Window, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Window{
		cfg:      cfg,
		channels: channels,
		waves:    waveChannels,
		times:    make([]int64, cfg.Size),
		vals:     make([]float64, len(channels)*cfg.Size),
	}
	if len(waveChannels) > 0 {
		w.latest = make([]Waveform, len(waveChannels))
	}
	return w, nil
}

// Config returns the window's effective configuration.
func (w *Window) Config() WindowConfig { return w.cfg }

// Len returns the number of samples held.
func (w *Window) Len() int { return w.n }

// End returns the time of the newest sample (zero time when empty).
func (w *Window) End() time.Time {
	if w.n == 0 {
		return time.Time{}
	}
	return time.Unix(0, w.times[w.pos(w.n-1)])
}

// pos is the ring position of the i-th oldest sample.
func (w *Window) pos(i int) int {
	if p := w.head + i; p < w.cfg.Size {
		return p
	}
	return w.head + i - w.cfg.Size
}

// Push adds a reading at time t. values maps channel name to value; waves
// maps waveform channel name to its newest block (either may be nil). See the
// package documentation for the handling of missing, NaN/Inf and out-of-order
// values.
func (w *Window) Push(t time.Time, values map[string]float64, waves map[string]Waveform) (PushResult, error) {
	var res PushResult
	ns := t.UnixNano()
	if w.n > 0 && ns < w.times[w.pos(w.n-1)] {
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
	p := w.pos(w.n)
	w.times[p] = ns
	for c, ch := range w.channels {
		v, ok := values[ch]
		if !ok || math.IsInf(v, 0) {
			v = math.NaN()
		}
		w.vals[c*w.cfg.Size+p] = v
	}
	w.n++
	w.pending++
}

// evict drops samples that leave the window when a sample at ns arrives.
func (w *Window) evict(ns int64) {
	if w.n == w.cfg.Size {
		w.drop()
	}
	if w.cfg.Kind == KindDuration {
		cut := ns - int64(w.cfg.Duration)
		for w.n > 0 && w.times[w.head] <= cut {
			w.drop()
		}
	}
}

// drop forgets the oldest sample.
func (w *Window) drop() {
	w.head, w.n = w.pos(1), w.n-1
	if w.n == 0 {
		w.head = 0
	}
}

// linearize rotates the ring so that the samples are at positions [0, n),
// oldest first: what Compute's statistics read.
func (w *Window) linearize() {
	if w.head == 0 {
		return
	}
	size := w.cfg.Size
	rotate(w.times, w.head)
	for c := range w.channels {
		rotate(w.vals[c*size:(c+1)*size], w.head)
	}
	w.head = 0
}

// rotate rotates s left by k in place (three reversals, no allocation).
func rotate[T any](s []T, k int) {
	slices.Reverse(s[:k])
	slices.Reverse(s[k:])
	slices.Reverse(s)
}

// channel returns channel c's samples, oldest first; the window must be
// linearized.
func (w *Window) channel(c int) []float64 {
	return w.vals[c*w.cfg.Size : c*w.cfg.Size+w.n]
}

func (w *Window) ready() bool {
	if w.cfg.Kind == KindCount {
		return w.n >= w.cfg.MinSamples
	}
	return w.n >= w.cfg.MinSamples && w.times[w.pos(w.n-1)]-w.first >= int64(w.cfg.Duration)
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
	w.copyInto(nw)
	return nw, nil
}

// copyInto fills the empty window nw with as many of w's newest samples as
// fit and w's waveforms and hop phase (see Rebuild).
func (w *Window) copyInto(nw *Window) {
	from := make([]int, len(nw.channels))
	for i, ch := range nw.channels {
		from[i] = indexOf(w.channels, ch)
	}
	for i := max(0, w.n-nw.cfg.Size); i < w.n; i++ {
		src := w.pos(i)
		nw.evict(w.times[src])
		dst := nw.pos(nw.n)
		nw.times[dst] = w.times[src]
		for c, f := range from {
			v := math.NaN()
			if f >= 0 {
				v = w.vals[f*w.cfg.Size+src]
			}
			nw.vals[c*nw.cfg.Size+dst] = v
		}
		nw.n++
	}
	for i, ch := range nw.waves {
		if f := indexOf(w.waves, ch); f >= 0 {
			nw.latest[i] = w.latest[f]
		}
	}
	nw.first, nw.hasFirst, nw.pending = w.first, w.hasFirst, w.pending
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
