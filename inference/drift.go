package inference

import (
	"math"
	"time"
)

// DriftReport compares the features served since the active model loaded
// with the model's training statistics.
type DriftReport struct {
	Model, ModelVersion string
	Time                time.Time
	Rows                int64
	Features            []FeatureDrift
}

// FeatureDrift is one feature's serving statistics against training.
type FeatureDrift struct {
	Feature             string // Spec.String(), e.g. "vibration_rms.mean"
	TrainMean, TrainStd float64
	Mean, Std           float64
	// Z is (Mean - TrainMean) / TrainStd (0 when TrainStd is 0).
	Z float64
	// StdRatio is Std / TrainStd (0 when TrainStd is 0).
	StdRatio float64
}

// driftAcc accumulates one device's feature sums for one model (guarded by
// the device's mutex). Accumulating per device keeps the cost on the
// Observe side, off the scoring path and without a shared lock.
type driftAcc struct {
	m          *model
	n          int64
	sum, sumSq []float64
}

func (a *driftAcc) add(m *model, v []float32) {
	if a.m != m {
		*a = driftAcc{m: m, sum: make([]float64, len(v)), sumSq: make([]float64, len(v))}
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

func (e *Engine) newDriftTicker() ticker {
	if e.cfg.DriftInterval < 0 {
		return ticker{C: nil, stop: func() {}}
	}
	t := time.NewTicker(e.cfg.DriftInterval)
	return ticker{C: t.C, stop: t.Stop}
}

// Drift returns the drift report of the active model, or false when no
// model is active or it has scored no rows yet. Safe for concurrent use.
func (e *Engine) Drift() (DriftReport, bool) {
	m := e.cur.Load()
	if m == nil {
		return DriftReport{}, false
	}
	f := len(m.man.Features)
	var n int64
	sum, sumSq := make([]float64, f), make([]float64, f)
	e.devMu.RLock()
	for _, d := range e.devices {
		d.mu.Lock()
		if d.drift.m == m {
			n += d.drift.n
			for i := range sum {
				sum[i] += d.drift.sum[i]
				sumSq[i] += d.drift.sumSq[i]
			}
		}
		d.mu.Unlock()
	}
	e.devMu.RUnlock()
	if n == 0 {
		return DriftReport{}, false
	}
	rep := DriftReport{Model: m.man.Name, ModelVersion: m.man.Version, Time: e.cfg.Now(), Rows: n}
	for i, s := range m.man.Features {
		fd := FeatureDrift{Feature: s.String(), Mean: sum[i] / float64(n)}
		fd.Std = math.Sqrt(math.Max(0, sumSq[i]/float64(n)-fd.Mean*fd.Mean))
		if i < len(m.man.FeatureStats) {
			fd.TrainMean, fd.TrainStd = m.man.FeatureStats[i].Mean, m.man.FeatureStats[i].Std
		}
		if fd.TrainStd > 0 {
			fd.Z = (fd.Mean - fd.TrainMean) / fd.TrainStd
			fd.StdRatio = fd.Std / fd.TrainStd
		}
		rep.Features = append(rep.Features, fd)
	}
	return rep, true
}

// reportDrift updates the drift gauges and calls OnDrift.
func (e *Engine) reportDrift() {
	rep, ok := e.Drift()
	if !ok {
		return
	}
	for _, f := range rep.Features {
		e.met.driftZ.WithLabelValues(f.Feature).Set(f.Z)
		e.met.driftRatio.WithLabelValues(f.Feature).Set(f.StdRatio)
	}
	if e.cfg.OnDrift != nil {
		e.cfg.OnDrift(rep)
	}
}
