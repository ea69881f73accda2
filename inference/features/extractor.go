package features

import (
	"time"
)

// Extractor keeps one Window per device and computes a feature row whenever
// a device's window is due. It is the whole serving-side feature path in one
// type, used by the trainer so both sides share it. Not safe for concurrent use.
type Extractor struct {
	plan    *Plan
	cfg     WindowConfig
	devices map[string]*Window
}

// Row is one feature vector computed for a device.
type Row struct {
	Device    string
	WindowEnd time.Time
	Features  []float32
	Imputed   int
}

// NewExtractor returns an extractor for plan with window config cfg.
func NewExtractor(plan *Plan, cfg WindowConfig) (*Extractor, error) {
	if _, err := plan.NewWindow(cfg); err != nil {
		return nil, err
	}
	return &Extractor{plan: plan, cfg: cfg, devices: make(map[string]*Window)}, nil
}

// Push adds a reading for device and returns the feature row when one is due
// (ok=true). Errors are those of Window.Push (the reading was not used).
func (x *Extractor) Push(device string, t time.Time, values map[string]float64, waves map[string]Waveform) (Row, bool, error) {
	w := x.devices[device]
	if w == nil {
		var err error
		if w, err = x.plan.NewWindow(x.cfg); err != nil {
			return Row{}, false, err
		}
		x.devices[device] = w
	}
	res, err := w.Push(t, values, waves)
	if err != nil || !res.Ready {
		return Row{}, false, err
	}
	row := Row{Device: device, WindowEnd: w.End(), Features: make([]float32, x.plan.Len())}
	row.Imputed = x.plan.Compute(w, row.Features)
	return row, true, nil
}
