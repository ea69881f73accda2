package features

import (
	"fmt"
	"math"
)

// Stat names a window statistic as it appears in a model manifest.
type Stat string

// The known statistics. See the package documentation for definitions.
const (
	Mean       Stat = "mean"
	Std        Stat = "std"
	Min        Stat = "min"
	Max        Stat = "max"
	RMS        Stat = "rms"
	PeakToPeak Stat = "p2p"
	Crest      Stat = "crest"
	Skewness   Stat = "skewness"
	Kurtosis   Stat = "kurtosis"
	Slope      Stat = "slope"
	EWMA       Stat = "ewma"
	Last       Stat = "last"
	Count      Stat = "count"
	BandEnergy Stat = "band_energy"
)

// DefaultAlpha is the EWMA smoothing factor used when Spec.Alpha is 0.
const DefaultAlpha = 0.3

var knownStats = map[Stat]bool{
	Mean: true, Std: true, Min: true, Max: true, RMS: true, PeakToPeak: true,
	Crest: true, Skewness: true, Kurtosis: true, Slope: true, EWMA: true,
	Last: true, Count: true, BandEnergy: true,
}

// Known reports whether s is a statistic this package computes.
func Known(s Stat) bool { return knownStats[s] }

// Stats returns every known statistic in a stable order.
func Stats() []Stat {
	return []Stat{Mean, Std, Min, Max, RMS, PeakToPeak, Crest, Skewness,
		Kurtosis, Slope, EWMA, Last, Count, BandEnergy}
}

// Spec is one feature: a statistic of one sensor channel over the window.
type Spec struct {
	Sensor string `json:"sensor"`
	Stat   Stat   `json:"stat"`
	// Alpha is the EWMA smoothing factor in (0,1]; 0 means DefaultAlpha.
	Alpha float64 `json:"alpha,omitempty"`
	// Band is [low, high) in Hz for band_energy (waveform channels only).
	Band []float64 `json:"band,omitempty"`
}

// String returns "sensor.stat" (with its parameter when it has one).
func (s Spec) String() string {
	switch {
	case s.Stat == EWMA && s.Alpha != 0:
		return fmt.Sprintf("%s.%s(%g)", s.Sensor, s.Stat, s.Alpha)
	case s.Stat == BandEnergy && len(s.Band) == 2:
		return fmt.Sprintf("%s.%s(%g-%g)", s.Sensor, s.Stat, s.Band[0], s.Band[1])
	}
	return s.Sensor + "." + string(s.Stat)
}

// Validate checks the spec names a known statistic with valid parameters.
func (s Spec) Validate() error {
	if s.Sensor == "" {
		return fmt.Errorf("sensor: must not be empty")
	}
	if !Known(s.Stat) {
		return fmt.Errorf("stat: unknown statistic %q", s.Stat)
	}
	if s.Alpha != 0 && (s.Stat != EWMA || !(s.Alpha > 0 && s.Alpha <= 1)) {
		return fmt.Errorf("alpha: must be in (0,1] and only for ewma, got %g", s.Alpha)
	}
	if s.Stat == BandEnergy {
		if len(s.Band) != 2 || !(s.Band[0] >= 0 && s.Band[1] > s.Band[0]) || math.IsInf(s.Band[1], 0) {
			return fmt.Errorf("band: need [low, high) Hz with 0 <= low < high, got %v", s.Band)
		}
	} else if len(s.Band) != 0 {
		return fmt.Errorf("band: only for band_energy")
	}
	return nil
}

func (s Spec) alpha() float64 {
	if s.Alpha == 0 {
		return DefaultAlpha
	}
	return s.Alpha
}
