package sim

import (
	"math"
	"slices"
	"testing"
	"time"
)

// The conveyor is listed and accepted but not a default class.
func TestConveyorClass(t *testing.T) {
	if !slices.Contains(Classes(), ClassConveyor) || slices.Contains(DefaultClasses, ClassConveyor) {
		t.Fatalf("Classes %v, DefaultClasses %v", Classes(), DefaultClasses)
	}
	if got := ClassSensors(ClassConveyor); !slices.Equal(got, basicSensors) {
		t.Fatalf("conveyor sensors %v", got)
	}
}

// Belt wear moves the sensors the other way from the existing modes: speed
// and current fall, RMS rises a little, and speed jitters more as it wears.
// Noise off: running readings at a fixed load are compared healthy vs worn.
func TestBeltModeSignature(t *testing.T) {
	p, err := NewPlant(Config{Seed: 11, Machines: 1, Classes: []string{ClassConveyor}, NoNoise: true,
		MeanTimeToOnset: 2 * 24 * time.Hour, MeanDegradation: 2 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m := p.machines[0]
	var healthy, worn map[string]float64
	for range 30 * 24 * 6 {
		r := p.Step(10 * time.Minute)[0]
		if r.Values[SensorSpeed] == 0 || r.Time.Sub(m.startedAt) < time.Minute {
			continue
		}
		if r.Truth.Mode != "" && r.Truth.Mode != ModeBelt {
			t.Fatalf("conveyor in mode %q", r.Truth.Mode)
		}
		switch {
		case r.Truth.Health == 1:
			healthy = withLoad(r.Values, m.load)
		case r.Truth.Health < 0.2 && healthy != nil:
			worn = withLoad(r.Values, m.load)
		}
		if worn != nil {
			break
		}
	}
	if healthy == nil || worn == nil {
		t.Fatal("no healthy and worn running readings in 30 days")
	}
	// Normalise speed and current by the load-dependent healthy value.
	c, _ := classByName(ClassConveyor)
	speed := func(v map[string]float64) float64 {
		return v[SensorSpeed] / (c.ratedRPM * (1 - c.slip*v["load"]))
	}
	amps := func(v map[string]float64) float64 {
		return v[SensorCurrent] / (c.ratedAmps * (c.idleAmps + (1-c.idleAmps)*v["load"]))
	}
	rms := func(v map[string]float64) float64 { return v[SensorVibrationRMS] / (0.6 + 0.4*v["load"]) }
	if s := speed(worn); s > 0.96 || speed(healthy) < 0.999 {
		t.Errorf("speed fraction healthy %.4f, worn %.4f: want a drop of several %%", speed(healthy), s)
	}
	if a := amps(worn); a > 0.9 || amps(healthy) < 0.99 {
		t.Errorf("current fraction healthy %.4f, worn %.4f: want a drop of >10%%", amps(healthy), a)
	}
	if rms(worn) < 1.3*rms(healthy) {
		t.Errorf("rms healthy %.3f, worn %.3f: want a rise", rms(healthy), rms(worn))
	}
	if worn[SensorVibrationKurtosis] > healthy[SensorVibrationKurtosis]+0.6 {
		t.Errorf("kurtosis healthy %.2f, worn %.2f: want almost no change",
			healthy[SensorVibrationKurtosis], worn[SensorVibrationKurtosis])
	}
}

func withLoad(v map[string]float64, load float64) map[string]float64 {
	out := map[string]float64{"load": load}
	for k, x := range v {
		out[k] = x
	}
	return out
}

// The speed of a worn belt jitters: its spread over readings at a fixed
// state grows with wear, unlike any other mode.
func TestBeltSpeedJitter(t *testing.T) {
	spread := func(d float64) float64 {
		cfg := Config{Seed: 3}.withDefaults()
		spec, _ := classByName(ClassConveyor)
		m := newMachine(&cfg, 0, spec, "conveyor-0000")
		m.mode, m.load = ModeBelt, 1
		var sum, sq float64
		const n = 2000
		v := map[string]float64{}
		for range n {
			m.sampleRunning(DefaultStart.Add(time.Hour), d, v)
			sum += v[SensorSpeed]
			sq += v[SensorSpeed] * v[SensorSpeed]
		}
		return math.Sqrt(sq/n - (sum/n)*(sum/n))
	}
	healthy, worn := spread(0), spread(1)
	if healthy > 2 || worn < 10 {
		t.Fatalf("speed sigma healthy %.2f rpm, worn %.2f rpm", healthy, worn)
	}
}
