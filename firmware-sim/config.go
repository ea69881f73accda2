package sim

import (
	"fmt"
	"time"
)

// Defaults applied by Config's zero values.
const (
	DefaultMachines        = 10
	DefaultSite            = "site1"
	DefaultLine            = "line1"
	DefaultInterval        = time.Second
	DefaultAccel           = 1.0
	DefaultMeanTimeToOnset = 20 * 24 * time.Hour
	DefaultMeanDegradation = 5 * 24 * time.Hour
	DefaultRepairTime      = 8 * time.Hour
	DefaultTopicTemplate   = "plant/{site}/{line}/{device}/telemetry"
)

// DefaultStart is the simulated start time when Config.Start is zero. It is
// fixed (not the wall clock) so that a Plant is reproducible by default.
var DefaultStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultClasses are the machine classes used when Config.Classes is empty.
var DefaultClasses = []string{ClassPump, ClassMotor, ClassFan}

// Config describes a simulated plant. The zero value of every field means
// the documented default. The same Config (in particular the same Seed)
// always produces the same readings.
type Config struct {
	// Seed makes the run reproducible. Each machine draws from its own
	// PCG stream derived from (Seed, machine index), so adding machines
	// does not change the existing ones.
	Seed int64
	// Machines is the number of machines (default 10).
	Machines int
	// Classes are assigned round-robin: machine i has class
	// Classes[i%len(Classes)] and device id "<class>-<FirstMachine+i,
	// 4 digits>" (default pump, motor, fan).
	Classes []string
	// FirstMachine is the index of the first machine (default 0): machine i
	// has index FirstMachine+i, which names its device id (DeviceID) and
	// keys its random streams. Two plants with disjoint index ranges have
	// distinct device ids and independent machines (two production lines,
	// one simulator each).
	FirstMachine int
	// AddMachines machines (default none) are commissioned new at Start +
	// AddAt (simulated time; 0 = at the start): healthy, at the start of a
	// fresh life, running from cold. They have the indexes after the
	// initial machines (FirstMachine+Machines+j), classes assigned
	// round-robin from AddClasses (default Classes), and no readings before
	// Start+AddAt; from then on Step returns their readings after the
	// initial machines'. This is a plant whose behaviour changes part-way.
	AddMachines int
	AddAt       time.Duration
	AddClasses  []string
	// Site and Line fill the topic template (default site1, line1).
	Site, Line string
	// Interval is the simulated time between two readings of a machine
	// (default 1s). Plant.Step takes its own dt; Interval is what the
	// publisher passes.
	Interval time.Duration
	// Accel is simulated seconds per real second (default 1; 86400 = a
	// simulated day per second). Used by the publisher for pacing.
	Accel float64
	// Start is the simulated time before the first Step; the first readings
	// are stamped Start + dt (default DefaultStart).
	Start time.Time
	// MeanTimeToOnset is the mean time from (re)commissioning to the onset
	// of degradation; onsets are Weibull distributed with shape 1.5
	// (wear-out). Default 20 days.
	MeanTimeToOnset time.Duration
	// MeanDegradation is the mean time from onset to failure (log-normal,
	// sigma 0.35). Default 5 days.
	MeanDegradation time.Duration
	// RepairTime is the mean time a failed machine stays down before
	// maintenance resets it (uniform in [0.5, 1.5] x RepairTime). Default 8h.
	RepairTime time.Duration
	// Noise scales the measurement noise (default 1). Use NoNoise for none.
	Noise float64
	// NoNoise disables measurement noise (for tests that check trends).
	NoNoise bool
}

// withDefaults returns a copy with defaults applied. It does not validate.
func (c Config) withDefaults() Config {
	if c.Machines == 0 {
		c.Machines = DefaultMachines
	}
	if len(c.Classes) == 0 {
		c.Classes = DefaultClasses
	}
	c.Classes = append([]string(nil), c.Classes...)
	if len(c.AddClasses) == 0 {
		c.AddClasses = c.Classes
	}
	c.AddClasses = append([]string(nil), c.AddClasses...)
	if c.Site == "" {
		c.Site = DefaultSite
	}
	if c.Line == "" {
		c.Line = DefaultLine
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Accel == 0 {
		c.Accel = DefaultAccel
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.MeanTimeToOnset == 0 {
		c.MeanTimeToOnset = DefaultMeanTimeToOnset
	}
	if c.MeanDegradation == 0 {
		c.MeanDegradation = DefaultMeanDegradation
	}
	if c.RepairTime == 0 {
		c.RepairTime = DefaultRepairTime
	}
	if c.Noise == 0 {
		c.Noise = 1
	}
	if c.NoNoise {
		c.Noise = 0
	}
	return c
}

// validate checks a config that already has defaults applied.
func (c Config) validate() error {
	switch {
	case c.Machines < 0:
		return fmt.Errorf("%w: machines: must be > 0, got %d", ErrConfig, c.Machines)
	case c.FirstMachine < 0:
		return fmt.Errorf("%w: first_machine: must be >= 0, got %d", ErrConfig, c.FirstMachine)
	case c.AddMachines < 0:
		return fmt.Errorf("%w: add_machines: must be >= 0, got %d", ErrConfig, c.AddMachines)
	case c.AddAt < 0:
		return fmt.Errorf("%w: add_at: must be >= 0, got %s", ErrConfig, c.AddAt)
	case c.Interval < 0:
		return fmt.Errorf("%w: interval: must be > 0, got %s", ErrConfig, c.Interval)
	case c.Accel < 0 || c.Accel != c.Accel:
		return fmt.Errorf("%w: accel: must be > 0, got %g", ErrConfig, c.Accel)
	case c.MeanTimeToOnset < 0:
		return fmt.Errorf("%w: mean_time_to_onset: must be > 0, got %s", ErrConfig, c.MeanTimeToOnset)
	case c.MeanDegradation < 0:
		return fmt.Errorf("%w: mean_degradation: must be > 0, got %s", ErrConfig, c.MeanDegradation)
	case c.RepairTime < 0:
		return fmt.Errorf("%w: repair_time: must be > 0, got %s", ErrConfig, c.RepairTime)
	case c.Noise < 0 || c.Noise != c.Noise:
		return fmt.Errorf("%w: noise: must be >= 0, got %g", ErrConfig, c.Noise)
	}
	if err := checkClasses("classes", c.Classes); err != nil {
		return err
	}
	return checkClasses("add_classes", c.AddClasses)
}

func checkClasses(field string, names []string) error {
	for i, name := range names {
		if _, ok := classByName(name); !ok {
			return fmt.Errorf("%w: %s[%d]: %w %q (known: %v)", ErrConfig, field, i, ErrUnknownClass, name, Classes())
		}
	}
	return nil
}
