package sim

import "slices"

// Machine class names accepted in Config.Classes.
const (
	ClassPump       = "pump"
	ClassMotor      = "motor"
	ClassFan        = "fan"
	ClassCompressor = "compressor"
	ClassConveyor   = "conveyor" // belt conveyor; not in DefaultClasses
)

// Failure modes a degrading machine can be in (Truth.Mode).
const (
	ModeBearing    = "bearing"    // bearing wear: kurtosis, RMS and temperature rise
	ModeImbalance  = "imbalance"  // rotor imbalance: RMS rises, kurtosis stays low
	ModeCavitation = "cavitation" // pump cavitation: flow and pressure drop, impulsive vibration
	ModeWinding    = "winding"    // stator winding insulation: current and temperature rise
	ModeValve      = "valve"      // compressor valve leak: pressure and flow drop, current rises
	// ModeBelt is belt wear and slip: speed and current fall (load lost to
	// slip), speed jitters, RMS rises a little. It moves the sensors the
	// other way from the modes above, which raise RMS, kurtosis,
	// temperature or current and drop speed by at most 1%.
	ModeBelt = "belt"
)

// classSpec holds the nominal behaviour of a machine class at full load.
type classSpec struct {
	name        string
	sensors     []string // in payload order
	ratedRPM    float64
	slip        float64 // speed drop at full load, fraction
	baseRMS     float64 // mm/s at full load, healthy
	tempRise    float64 // bearing temperature rise over ambient at full load, K
	ratedAmps   float64
	idleAmps    float64 // fraction of rated current at zero load
	pressureBar float64 // 0 if no pressure sensor
	flowM3h     float64 // 0 if no flow sensor
	modes       []string
}

// effect is how a failure mode moves the sensors at severity d in [0,1]
// (d = 1 - health). Multipliers apply as x * (1 + k*d^p).
type effect struct {
	rms, rmsPow   float64 // relative RMS increase at d=1
	kurt          float64 // kurtosis increase at d=1 (linear-quadratic)
	temp, tempPow float64 // K at d=1
	current       float64 // relative current change at d=1
	pressure      float64 // relative pressure change at d=1 (negative = drop)
	flow          float64
	speed         float64 // relative speed change at d=1, linear
	// speedJitter is extra speed noise at d=1, sigma as a fraction of the
	// rated speed, linear in d. Zero draws no noise, so the modes without
	// it keep their noise streams.
	speedJitter float64
}

// speedWear is the speed change of the modes that do not name their own:
// 1% at d=1. 1 + speedWear*d equals 1 - 0.01*d exactly (negation is exact).
const speedWear = -0.01

var effects = map[string]effect{
	ModeBearing:    {rms: 3.0, rmsPow: 1.4, kurt: 7, temp: 30, tempPow: 2, current: 0.06, speed: speedWear},
	ModeImbalance:  {rms: 4.0, rmsPow: 1.2, kurt: 0.4, temp: 8, tempPow: 1.5, current: 0.04, speed: speedWear},
	ModeCavitation: {rms: 2.0, rmsPow: 1.2, kurt: 4, temp: 5, tempPow: 1, current: -0.10, pressure: -0.25, flow: -0.22, speed: speedWear},
	ModeWinding:    {rms: 0.8, rmsPow: 1.5, kurt: 0.3, temp: 25, tempPow: 1.5, current: 0.28, speed: speedWear},
	ModeValve:      {rms: 1.5, rmsPow: 1.3, kurt: 1.5, temp: 15, tempPow: 1.5, current: 0.12, pressure: -0.22, flow: -0.30, speed: speedWear},
	ModeBelt:       {rms: 0.6, rmsPow: 1, kurt: 0.5, temp: 4, tempPow: 1, current: -0.15, speed: -0.06, speedJitter: 0.02},
}

var allSensors = []string{SensorVibrationRMS, SensorVibrationKurtosis, SensorBearingTemp,
	SensorCurrent, SensorPressure, SensorFlow, SensorSpeed}

var basicSensors = []string{SensorVibrationRMS, SensorVibrationKurtosis, SensorBearingTemp,
	SensorCurrent, SensorSpeed}

var classes = []classSpec{
	{name: ClassPump, sensors: allSensors, ratedRPM: 2980, slip: 0.012, baseRMS: 1.8, tempRise: 32,
		ratedAmps: 52, idleAmps: 0.35, pressureBar: 6.0, flowM3h: 120,
		modes: []string{ModeBearing, ModeImbalance, ModeCavitation}},
	{name: ClassMotor, sensors: basicSensors, ratedRPM: 1490, slip: 0.02, baseRMS: 1.2, tempRise: 28,
		ratedAmps: 31, idleAmps: 0.30, modes: []string{ModeBearing, ModeImbalance, ModeWinding}},
	{name: ClassFan, sensors: basicSensors, ratedRPM: 985, slip: 0.025, baseRMS: 2.4, tempRise: 20,
		ratedAmps: 14.5, idleAmps: 0.25, modes: []string{ModeBearing, ModeImbalance}},
	{name: ClassCompressor, sensors: allSensors, ratedRPM: 2965, slip: 0.015, baseRMS: 2.2, tempRise: 40,
		ratedAmps: 96, idleAmps: 0.40, pressureBar: 7.5, flowM3h: 610,
		modes: []string{ModeBearing, ModeValve, ModeImbalance}},
	{name: ClassConveyor, sensors: basicSensors, ratedRPM: 740, slip: 0.03, baseRMS: 1.6, tempRise: 18,
		ratedAmps: 22, idleAmps: 0.35, modes: []string{ModeBelt}},
}

// Classes returns the names of the machine classes, in a fixed order.
func Classes() []string {
	out := make([]string, len(classes))
	for i, c := range classes {
		out[i] = c.name
	}
	return out
}

// ClassSensors returns the sensor names a class publishes, in payload order,
// or nil for an unknown class.
func ClassSensors(class string) []string {
	c, ok := classByName(class)
	if !ok {
		return nil
	}
	return slices.Clone(c.sensors)
}

func classByName(name string) (*classSpec, bool) {
	for i := range classes {
		if classes[i].name == name {
			return &classes[i], true
		}
	}
	return nil, false
}
