package inference

import (
	"math"
	"sync"
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// DriftReport is a drift event: the statistics of the features one model
// has been served since it became active, against its training statistics.
// The JSON field names are those of the drift event.
type DriftReport struct {
	Model        string `json:"model"`
	ModelVersion string `json:"model_version"`
	// Since and Time bound the period the statistics cover (engine clock):
	// from when the model was loaded to when the report was made. The
	// statistics are cumulative over that period (running mean and std).
	Since time.Time `json:"since"`
	Time  time.Time `json:"time"`
	// Rows is the number of feature rows in the statistics (the sample
	// count of every feature). Rows of evicted devices are kept.
	Rows int64 `json:"rows"`
	// RecentSince and RecentRows bound the recent statistics of each
	// feature (FeatureDrift.Recent*): the rows of the last drift report
	// interval (inference.drift_interval) that had any, from RecentSince to
	// the report that closed it; before the first report, the whole period
	// since Since.
	// A change shows in them at full strength, where the cumulative
	// statistics dilute it with everything since the model loaded.
	RecentSince time.Time      `json:"recent_since"`
	RecentRows  int64          `json:"recent_rows"`
	Features    []FeatureDrift `json:"features"`
}

// FeatureDrift is one feature's serving statistics against training.
type FeatureDrift struct {
	Feature   string  `json:"feature"` // Spec.String(), e.g. "vibration_rms.mean"
	TrainMean float64 `json:"train_mean"`
	TrainStd  float64 `json:"train_std"`
	Mean      float64 `json:"mean"` // running mean of the served feature values
	Std       float64 `json:"std"`  // running (population) std of the served values
	// Z is (Mean - TrainMean) / TrainStd (0 when TrainStd is 0).
	Z float64 `json:"z"`
	// Score is the drift score |Mean - TrainMean| / TrainStd, i.e. |Z|:
	// how many training standard deviations the serving mean has moved.
	Score float64 `json:"score"`
	// StdRatio is Std / TrainStd (0 when TrainStd is 0).
	StdRatio float64 `json:"std_ratio"`
	// RecentMean, RecentStd and RecentScore are Mean, Std and Score over
	// the recent rows only (DriftReport.RecentSince).
	RecentMean  float64 `json:"recent_mean"`
	RecentStd   float64 `json:"recent_std"`
	RecentScore float64 `json:"recent_score"`
	// PSI and RecentPSI are the population stability index of the served
	// values against the training histogram (feature_stats[].hist), since
	// the model loaded and over the recent rows: 0 when the package has
	// no histogram for the feature (HasHist false). A change of shape
	// that leaves the mean in place (a new machine class inside the
	// training range) shows here and not in Score. PSIReady: HasHist and
	// at least EngineConfig.DriftMinPSIRows rows since loading, so PSI counts toward
	// Drifting. RecentPSI is for reading only: an interval holds the few
	// devices' last hours, too few independent values for a stable PSI.
	PSI       float64 `json:"psi"`
	RecentPSI float64 `json:"recent_psi"`
	HasHist   bool    `json:"has_hist"`
	PSIReady  bool    `json:"psi_ready"`
	// PSIMark is the PSI above which the feature is drifting once
	// PSIReady (EngineConfig.DriftPSIMark; 0 means DefaultDriftPSIMark).
	PSIMark float64 `json:"psi_mark"`
}

// Drift marks: a feature is drifting when its serving mean moved more than
// DriftScoreMark training standard deviations (since loading or over the
// last interval), or its PSI since loading is above the PSI mark
// (EngineConfig.DriftPSIMark, default DefaultDriftPSIMark) once
// EngineConfig.DriftMinPSIRows rows were served (default
// DefaultDriftMinPSIRows). The default PSI mark is twice the textbook 0.25
// "significant shift": one gateway serves a few devices, whose values are
// fewer and more alike than the training fleet's (docs/models.md, "Drift").
const (
	DriftScoreMark         = 3
	DefaultDriftPSIMark    = 0.5
	DefaultDriftMinPSIRows = 1000
)

// Worst is the larger of Score and RecentScore: how far the feature's mean
// has moved, over the model's whole service or lately.
func (f FeatureDrift) Worst() float64 { return max(f.Score, f.RecentScore) }

// Level is how far the feature is toward its drift marks: the larger of
// Worst()/DriftScoreMark and, once PSIReady, PSI/PSIMark; above 1 is
// drifting (Drifting). It orders features by drift.
func (f FeatureDrift) Level() float64 {
	if !f.PSIReady {
		return f.Worst() / DriftScoreMark
	}
	mark := f.PSIMark
	if mark <= 0 {
		mark = DefaultDriftPSIMark
	}
	return max(f.Worst()/DriftScoreMark, f.PSI/mark)
}

// Drifting reports whether the feature is past a drift mark (Level > 1).
func (f FeatureDrift) Drifting() bool { return f.Level() > 1 }

// driftTotals are cumulative drift sums: the rows, each feature's sum and
// sum of squares, and the rows in each histogram bin (driftSums.off).
type driftTotals struct {
	n          int64
	sum, sumSq []float64
	bins       []int64
}

// driftWindow holds the cumulative totals at the previous drift report and
// the statistics of the interval that report closed (reportDrift).
type driftWindow struct {
	mu   sync.Mutex
	at   time.Time // the previous report (the model's load before the first)
	prev driftTotals
	// last closed interval; lastN 0 before the first report
	lastSince            time.Time
	lastN                int64
	lastMean, lastStdDev []float64
	lastBins             []int64
}

// close ends the interval at now with the cumulative totals t; the first
// interval begins at loaded.
func (w *driftWindow) close(loaded, now time.Time, t driftTotals) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at.IsZero() {
		w.at = loaded
	}
	if len(w.prev.sum) != len(t.sum) || len(w.prev.bins) != len(t.bins) {
		w.prev = driftTotals{sum: make([]float64, len(t.sum)), sumSq: make([]float64, len(t.sum)), bins: make([]int64, len(t.bins))}
	}
	if dn := t.n - w.prev.n; dn > 0 {
		w.lastSince, w.lastN = w.at, dn
		w.lastMean, w.lastStdDev = make([]float64, len(t.sum)), make([]float64, len(t.sum))
		for i := range t.sum {
			m := (t.sum[i] - w.prev.sum[i]) / float64(dn)
			w.lastMean[i] = m
			w.lastStdDev[i] = math.Sqrt(math.Max(0, (t.sumSq[i]-w.prev.sumSq[i])/float64(dn)-m*m))
		}
		w.lastBins = make([]int64, len(t.bins))
		for j := range t.bins {
			w.lastBins[j] = t.bins[j] - w.prev.bins[j]
		}
	}
	w.at, w.prev.n = now, t.n
	copy(w.prev.sum, t.sum)
	copy(w.prev.sumSq, t.sumSq)
	copy(w.prev.bins, t.bins)
}

// last returns the statistics of the last closed interval (n 0: none yet).
func (w *driftWindow) last() (since time.Time, n int64, mean, std []float64, bins []int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastSince, w.lastN, w.lastMean, w.lastStdDev, w.lastBins
}

// driftSums accumulates the feature sums of the rows computed for one
// model (model.drift). A row is added to the shard of its device's slot,
// under that shard's lock: the sums cost nothing per device (a gateway may
// track 100,000), rows of evicted devices stay counted, and Observes of
// different devices rarely contend. The report adds the shards up.
type driftSums struct {
	shards [driftShards]driftShard
	// The training histograms, set by initHists before the first add and
	// read-only after: hists[i] of feature i (nil: none), whose bins are
	// the counts at off[i] of a shard's bins (nbins in all).
	hists []*modelpkg.Hist
	off   []int
	nbins int
}

// initHists takes the training histograms of stats (feature_stats). Call
// it before the first add.
func (s *driftSums) initHists(stats []modelpkg.FeatureStat) {
	s.hists, s.off, s.nbins = make([]*modelpkg.Hist, len(stats)), make([]int, len(stats)), 0
	for i, st := range stats {
		if st.Hist != nil {
			s.hists[i], s.off[i] = st.Hist, s.nbins
			s.nbins += len(st.Hist.Shares)
		}
	}
	if s.nbins == 0 {
		s.hists, s.off = nil, nil
	}
}

// driftShards is the number of shards of driftSums.
const driftShards = 16

type driftShard struct {
	mu         sync.Mutex
	n          int64
	sum, sumSq []float64
	bins       []int64
}

// add adds one row's feature vector for the device in slot.
func (s *driftSums) add(slot int32, v []float32) {
	sh := &s.shards[uint32(slot)%driftShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.sum) != len(v) {
		all := make([]float64, 2*len(v))
		sh.sum, sh.sumSq = all[:len(v):len(v)], all[len(v):]
	}
	sh.n++
	for i, f := range v {
		x := float64(f)
		sh.sum[i] += x
		sh.sumSq[i] += x * x
	}
	if s.nbins == 0 || len(s.hists) != len(v) {
		return
	}
	if len(sh.bins) != s.nbins {
		sh.bins = make([]int64, s.nbins)
	}
	for i, h := range s.hists {
		if h != nil {
			sh.bins[s.off[i]+h.Bin(float64(v[i]))]++
		}
	}
}

// total returns the rows added, their sums per feature (f features) and
// their histogram bin counts.
func (s *driftSums) total(f int) driftTotals {
	t := driftTotals{sum: make([]float64, f), sumSq: make([]float64, f), bins: make([]int64, s.nbins)}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if len(sh.sum) == f {
			t.n += sh.n
			for j := range t.sum {
				t.sum[j] += sh.sum[j]
				t.sumSq[j] += sh.sumSq[j]
			}
			for j, c := range sh.bins {
				t.bins[j] += c
			}
		}
		sh.mu.Unlock()
	}
	return t
}

type ticker struct {
	C    <-chan time.Time
	stop func()
}

func (t ticker) Stop() { t.stop() }

func realTicker(d time.Duration) ticker {
	t := time.NewTicker(d)
	return ticker{C: t.C, stop: t.Stop}
}

// tickerEvery returns a ticker of period d, or a never-firing one if d < 0.
func (e *Engine) tickerEvery(d time.Duration) ticker {
	if d < 0 {
		return ticker{C: nil, stop: func() {}}
	}
	return e.newTicker(d)
}

// Drift returns the drift report of the active model, or false when no
// model is active or it has scored no rows yet. Safe for concurrent use.
func (e *Engine) Drift() (DriftReport, bool) { return e.driftOf(e.cur.Load()) }

func (e *Engine) driftOf(m *model) (DriftReport, bool) {
	if m == nil {
		return DriftReport{}, false
	}
	return e.reportOf(m, m.drift.total(len(m.man.Features)))
}

// reportOf is m's drift report from its cumulative totals t
// (driftSums.total) and its last closed interval; false without rows.
func (e *Engine) reportOf(m *model, t driftTotals) (DriftReport, bool) {
	n, sum, sumSq := t.n, t.sum, t.sumSq
	if n == 0 {
		return DriftReport{}, false
	}
	rep := DriftReport{Model: m.man.Name, ModelVersion: m.man.Version, Since: m.loaded, Time: e.cfg.Now(), Rows: n}
	rs, rn, rmean, rstd, rbins := m.recent.last()
	if rn == 0 || len(rmean) != len(sum) || len(rbins) != len(t.bins) { // no report yet: the recent period is the whole
		rs, rn, rmean, rstd, rbins = m.loaded, n, nil, nil, t.bins
	}
	rep.RecentSince, rep.RecentRows = rs, rn
	for i, s := range m.man.Features {
		fd := FeatureDrift{Feature: s.String(), Mean: sum[i] / float64(n)}
		fd.Std = math.Sqrt(math.Max(0, sumSq[i]/float64(n)-fd.Mean*fd.Mean))
		fd.RecentMean, fd.RecentStd = fd.Mean, fd.Std
		if rmean != nil {
			fd.RecentMean, fd.RecentStd = rmean[i], rstd[i]
		}
		if i < len(m.drift.hists) && m.drift.hists[i] != nil {
			h, off := m.drift.hists[i], m.drift.off[i]
			fd.HasHist, fd.PSIMark = true, e.cfg.DriftPSIMark
			fd.PSIReady = n >= e.cfg.DriftMinPSIRows && e.cfg.DriftPSIMark > 0
			fd.PSI = h.PSI(t.bins[off : off+len(h.Shares)])
			fd.RecentPSI = h.PSI(rbins[off : off+len(h.Shares)])
		}
		if i < len(m.man.FeatureStats) {
			fd.TrainMean, fd.TrainStd = m.man.FeatureStats[i].Mean, m.man.FeatureStats[i].Std
		}
		if fd.TrainStd > 0 {
			fd.Z = (fd.Mean - fd.TrainMean) / fd.TrainStd
			fd.Score = math.Abs(fd.Z)
			fd.StdRatio = fd.Std / fd.TrainStd
			fd.RecentScore = math.Abs(fd.RecentMean-fd.TrainMean) / fd.TrainStd
		}
		rep.Features = append(rep.Features, fd)
	}
	return rep, true
}

// reportDrift closes the recent interval, updates the drift gauges and
// calls OnDrift. The run loop's goroutine only (every drift_interval).
func (e *Engine) reportDrift() {
	m := e.cur.Load()
	if m == nil {
		return
	}
	t := m.drift.total(len(m.man.Features))
	m.recent.close(m.loaded, e.cfg.Now(), t)
	rep, ok := e.reportOf(m, t) // the same totals: the report and the interval agree
	if !ok {
		return
	}
	e.driftMu.Lock()
	if e.cur.Load() == m { // else a swap cleared the gauges meanwhile: leave them clear
		e.setDriftGauges(rep.Features)
	}
	e.driftMu.Unlock()
	if e.cfg.OnDrift != nil {
		e.cfg.OnDrift(rep)
	}
}

// setDriftGauges sets the drift gauges for fs and deletes the label values
// of features not in fs. driftMu must be held.
func (e *Engine) setDriftGauges(fs []FeatureDrift) {
	keep := make(map[string]bool, len(fs))
	for _, f := range fs {
		e.met.driftZ.WithLabelValues(f.Feature).Set(f.Z)
		e.met.driftRatio.WithLabelValues(f.Feature).Set(f.StdRatio)
		if f.HasHist {
			e.met.driftPSI.WithLabelValues(f.Feature).Set(f.PSI)
		} else {
			e.met.driftPSI.DeleteLabelValues(f.Feature)
		}
		keep[f.Feature] = true
	}
	for _, l := range e.driftLabels {
		if !keep[l] {
			e.met.driftZ.DeleteLabelValues(l)
			e.met.driftRatio.DeleteLabelValues(l)
			e.met.driftPSI.DeleteLabelValues(l)
		}
	}
	e.driftLabels = e.driftLabels[:0]
	for _, f := range fs {
		e.driftLabels = append(e.driftLabels, f.Feature)
	}
}

// clearDriftGauges deletes every drift gauge label value (after a swap the
// old model's features are stale; the new model's appear at its first report).
func (e *Engine) clearDriftGauges() {
	e.driftMu.Lock()
	defer e.driftMu.Unlock()
	e.setDriftGauges(nil)
}
