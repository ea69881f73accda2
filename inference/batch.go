package inference

import (
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// Batch is one scored micro-batch as Run hands it to emit: the rows that
// got a prediction, in queue order, and the alert state changes they
// caused.
//
// A Batch is a view of buffers the engine reuses for the next batch: the
// Batch, its Alerts and every slice its methods return (Outputs, Features)
// are valid only until emit returns. Read what you need inside emit (the
// accessors do not allocate), or copy: AppendPredictions makes deep
// copies that may be kept. Not safe for concurrent use.
type Batch struct {
	// Alerts are the alert state changes of this batch, in row order.
	Alerts []AlertEvent

	rows     []row        // scored rows with finite outputs
	groups   []batchGroup // runs of rows scored by one model
	features bool         // EngineConfig.IncludeFeatures
	preds    []Prediction // set instead of rows/groups by BatchOf
}

// batchGroup is a run of a batch's rows scored by one model.
type batchGroup struct {
	man        *modelpkg.Manifest // the model's (name, version)
	m          *model             // the model (its alert rule and input, for the shadow)
	start, end int                // the group's rows are Batch.rows[start:end]
	k          int                // outputs per row
	outs       []float32          // k outputs per row, for rows[start:end]
}

// BatchOf returns a Batch that serves the given predictions and alerts, for
// testing code that consumes Run's batches. It does not copy them.
func BatchOf(preds []Prediction, alerts []AlertEvent) *Batch {
	if preds == nil {
		preds = []Prediction{}
	}
	return &Batch{Alerts: alerts, preds: preds}
}

// Len returns the number of predictions in the batch.
func (b *Batch) Len() int {
	if b.preds != nil {
		return len(b.preds)
	}
	return len(b.rows)
}

// group returns the group of row i.
func (b *Batch) group(i int) *batchGroup {
	for j := range b.groups {
		if i < b.groups[j].end {
			return &b.groups[j]
		}
	}
	panic("inference: Batch row index out of range")
}

// Device returns the device of prediction i.
func (b *Batch) Device(i int) string {
	if b.preds != nil {
		return b.preds[i].Device
	}
	return b.rows[i].dev.name
}

// Score returns prediction i's score: its output at the manifest's
// output_index (0 unless set).
func (b *Batch) Score(i int) float64 {
	if b.preds != nil {
		return b.preds[i].Score
	}
	return float64(b.Outputs(i)[b.group(i).man.OutputIndex])
}

// WindowEnd returns the time of the newest reading in prediction i's window.
func (b *Batch) WindowEnd(i int) time.Time {
	if b.preds != nil {
		return b.preds[i].WindowEnd
	}
	return b.rows[i].end
}

// Model returns the name and version of the model that made prediction i.
func (b *Batch) Model(i int) (name, version string) {
	if b.preds != nil {
		return b.preds[i].Model, b.preds[i].ModelVersion
	}
	g := b.group(i)
	return g.man.Name, g.man.Version
}

// FeatureHash returns the lineage hash of prediction i's feature vector.
func (b *Batch) FeatureHash(i int) string {
	if b.preds != nil {
		return b.preds[i].FeatureHash
	}
	return b.rows[i].hash
}

// Outputs returns prediction i's raw model outputs (valid during emit).
func (b *Batch) Outputs(i int) []float32 {
	if b.preds != nil {
		return b.preds[i].Outputs
	}
	g := b.group(i)
	k := g.k
	j := i - g.start
	return g.outs[j*k : (j+1)*k : (j+1)*k]
}

// Features returns prediction i's feature vector when
// EngineConfig.IncludeFeatures is set, else nil (valid during emit).
func (b *Batch) Features(i int) []float32 {
	if b.preds != nil {
		return b.preds[i].Features
	}
	if !b.features {
		return nil
	}
	return b.rows[i].feat
}

// prediction returns prediction i as a value. Its Outputs and Features
// alias the batch: copy them to keep them past emit (or use
// AppendPredictions).
func (b *Batch) prediction(i int) Prediction {
	if b.preds != nil {
		return b.preds[i]
	}
	name, version := b.Model(i)
	return Prediction{Device: b.rows[i].dev.name, Model: name, ModelVersion: version, WindowEnd: b.rows[i].end,
		Score: b.Score(i), Outputs: b.Outputs(i), FeatureHash: b.rows[i].hash, Features: b.Features(i)}
}

// AppendPredictions appends deep copies of the batch's predictions to dst
// (their Outputs and Features are fresh memory, so they may be kept).
func (b *Batch) AppendPredictions(dst []Prediction) []Prediction {
	n := b.Len()
	var floats int
	for i := range n {
		floats += len(b.Outputs(i)) + len(b.Features(i))
	}
	backing := make([]float32, 0, floats)
	for i := range n {
		p := b.prediction(i)
		at := len(backing)
		backing = append(backing, p.Outputs...)
		p.Outputs = backing[at:len(backing):len(backing)]
		if p.Features != nil {
			at = len(backing)
			backing = append(backing, p.Features...)
			p.Features = backing[at:len(backing):len(backing)]
		}
		dst = append(dst, p)
	}
	return dst
}

// reset empties b for the next batch, keeping its buffers.
func (b *Batch) reset(rows []row) {
	clear(b.Alerts) // drop string references
	b.Alerts = b.Alerts[:0]
	b.rows = rows[:0]
	clear(b.groups)
	b.groups = b.groups[:0]
}
