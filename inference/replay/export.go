package replay

import (
	"errors"
	"fmt"

	"github.com/edgepm/edgepm/inference/features"
)

// Counts says what an Exporter did with the readings it was given.
type Counts struct {
	Readings int `json:"readings"` // readings pushed
	Rows     int `json:"rows"`     // feature rows returned
	// MissingSensors counts readings used although some of the model's
	// sensors were absent or not finite (their statistics come from the
	// rest of the window, or are imputed).
	MissingSensors int `json:"missing_sensors"`
	// NoValues counts readings skipped: none of the model's sensors had a
	// valid value.
	NoValues int `json:"skipped_no_values"`
	// OutOfOrder counts readings skipped: older than their device's newest.
	OutOfOrder int `json:"skipped_out_of_order"`
	// Imputed counts feature values replaced by their fill value.
	Imputed int `json:"imputed"`
}

// Exporter computes the feature rows of a model's plan and window for
// readings of any number of devices, as the inference engine does.
type Exporter struct {
	x        *features.Extractor
	channels []string
	Counts   Counts
}

// NewExporter returns an exporter for plan (built with the model's fill
// values: features.NewPlan(man.Features, man.Imputation())) and window.
func NewExporter(plan *features.Plan, win features.WindowConfig) (*Exporter, error) {
	x, err := features.NewExtractor(plan, win)
	if err != nil {
		return nil, fmt.Errorf("feature export: %w", err)
	}
	return &Exporter{x: x, channels: plan.Channels()}, nil
}

// Push adds a reading and returns the row the gateway would score for it,
// if one is due (ok). Skipped readings are counted, not errors.
func (e *Exporter) Push(r Reading) (row features.Row, ok bool, err error) {
	e.Counts.Readings++
	row, ok, err = e.x.Push(r.Device, r.Time, r.Values, r.Waves)
	switch {
	case errors.Is(err, features.ErrNoValues):
		e.Counts.NoValues++
		return row, false, nil
	case errors.Is(err, features.ErrOutOfOrder):
		e.Counts.OutOfOrder++
		return row, false, nil
	case err != nil:
		return row, false, fmt.Errorf("feature export: device %s: %w", r.Device, err)
	}
	if e.missing(r.Values) {
		e.Counts.MissingSensors++
	}
	if ok {
		e.Counts.Rows++
		e.Counts.Imputed += row.Imputed
	}
	return row, ok, nil
}

func (e *Exporter) missing(values map[string]float64) bool {
	for _, ch := range e.channels {
		if v, ok := values[ch]; !ok || !finite(v) {
			return true
		}
	}
	return false
}
