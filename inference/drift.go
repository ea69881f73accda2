package inference

import (
	"math"
	"time"
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
	Rows     int64          `json:"rows"`
	Features []FeatureDrift `json:"features"`
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
}

// driftAcc accumulates one device's feature sums for one model (guarded by
// the device's mutex). Accumulating per device keeps the cost on the
// Observe side, off the scoring path and without a shared lock.
type driftAcc struct {
	m          *model
	n          int64
	sum, sumSq []float64 // halves of one allocation (one per device)
}

// reset restarts a for m's f features.
func (a *driftAcc) reset(m *model, f int) {
	s := make([]float64, 2*f)
	*a = driftAcc{m: m, sum: s[:f:f], sumSq: s[f:]}
}

// merge adds b's sums to a (restarting a if it holds another model's).
func (a *driftAcc) merge(b *driftAcc) {
	if a.m != b.m {
		a.reset(b.m, len(b.sum))
	}
	a.n += b.n
	for i := range b.sum {
		a.sum[i] += b.sum[i]
		a.sumSq[i] += b.sumSq[i]
	}
}

func (a *driftAcc) add(m *model, v []float32) {
	if a.m != m {
		a.reset(m, len(v))
	}
	a.n++
	for i, f := range v {
		x := float64(f)
		a.sum[i] += x
		a.sumSq[i] += x * x
	}
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
	f := len(m.man.Features)
	var n int64
	sum, sumSq := make([]float64, f), make([]float64, f)
	add := func(a *driftAcc) {
		if a.m == m {
			n += a.n
			for i := range sum {
				sum[i] += a.sum[i]
				sumSq[i] += a.sumSq[i]
			}
		}
	}
	e.devMu.RLock()
	add(&e.evictedDrift)
	for _, d := range e.devices {
		d.mu.Lock()
		add(&d.drift)
		d.mu.Unlock()
	}
	e.devMu.RUnlock()
	if n == 0 {
		return DriftReport{}, false
	}
	rep := DriftReport{Model: m.man.Name, ModelVersion: m.man.Version, Since: m.loaded, Time: e.cfg.Now(), Rows: n}
	for i, s := range m.man.Features {
		fd := FeatureDrift{Feature: s.String(), Mean: sum[i] / float64(n)}
		fd.Std = math.Sqrt(math.Max(0, sumSq[i]/float64(n)-fd.Mean*fd.Mean))
		if i < len(m.man.FeatureStats) {
			fd.TrainMean, fd.TrainStd = m.man.FeatureStats[i].Mean, m.man.FeatureStats[i].Std
		}
		if fd.TrainStd > 0 {
			fd.Z = (fd.Mean - fd.TrainMean) / fd.TrainStd
			fd.Score = math.Abs(fd.Z)
			fd.StdRatio = fd.Std / fd.TrainStd
		}
		rep.Features = append(rep.Features, fd)
	}
	return rep, true
}

// reportDrift updates the drift gauges and calls OnDrift.
func (e *Engine) reportDrift() {
	m := e.cur.Load()
	rep, ok := e.driftOf(m)
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
		keep[f.Feature] = true
	}
	for _, l := range e.driftLabels {
		if !keep[l] {
			e.met.driftZ.DeleteLabelValues(l)
			e.met.driftRatio.DeleteLabelValues(l)
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
