package sim

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

func runPlant(t testing.TB, cfg Config, steps int, dt time.Duration) []byte {
	t.Helper()
	p, err := NewPlant(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	var rs []Reading
	for range steps {
		rs = p.StepInto(dt, rs[:0])
		for _, r := range rs {
			out = AppendPayload(out, r)
			out = AppendTruth(out, r)
			out = append(out, '\n')
		}
	}
	return out
}

func TestPlantDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, Machines: 12, Classes: Classes()}
	a := runPlant(t, cfg, 2000, time.Minute)
	b := runPlant(t, cfg, 2000, time.Minute)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed produced different output")
	}
	c := runPlant(t, Config{Seed: 43, Machines: 12, Classes: Classes()}, 2000, time.Minute)
	if bytes.Equal(a, c) {
		t.Fatal("different seeds produced the same output")
	}
	t.Logf("sha256 %x (%d bytes)", sha256.Sum256(a), len(a))
}

// Adding machines must not change the readings of the existing ones.
func TestPlantAddingMachinesKeepsOthers(t *testing.T) {
	small, _ := NewPlant(Config{Seed: 7, Machines: 3})
	big, _ := NewPlant(Config{Seed: 7, Machines: 30})
	for range 500 {
		rs, rb := small.Step(10*time.Minute), big.Step(10*time.Minute)
		for i := range rs {
			if !bytes.Equal(EncodePayload(rs[i]), EncodePayload(rb[i])) || rs[i].Truth != rb[i].Truth {
				t.Fatalf("machine %d differs: %s vs %s", i, EncodePayload(rs[i]), EncodePayload(rb[i]))
			}
		}
	}
}

// The failure schedule does not depend on the sampling interval.
func TestPlantScheduleIndependentOfStep(t *testing.T) {
	a, _ := NewPlant(Config{Seed: 9, Machines: 5})
	b, _ := NewPlant(Config{Seed: 9, Machines: 5})
	for range 24 * 60 {
		a.Step(time.Minute)
	}
	for range 24 {
		b.Step(time.Hour)
	}
	ra, rb := a.Step(time.Hour), b.Step(time.Hour)
	for i := range ra {
		if ra[i].Truth != rb[i].Truth {
			t.Fatalf("machine %d: truth %+v vs %+v", i, ra[i].Truth, rb[i].Truth)
		}
	}
}

// A machine degrades (vibration, kurtosis, temperature rise), fails (stops)
// and is reset by maintenance; repeated over many lives.
func TestPlantDegradationFailureRepair(t *testing.T) {
	p, err := NewPlant(Config{Seed: 1, Machines: 6, Classes: Classes(), NoNoise: true,
		MeanTimeToOnset: 5 * 24 * time.Hour, MeanDegradation: 2 * 24 * time.Hour, RepairTime: 4 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	type life struct {
		sawHealthy, sawDegrading, sawFailed, sawRepaired bool
		failures                                         int
		prev                                             Truth
	}
	lives := make([]life, 6)
	for range 60 * 24 * 6 { // 60 days, 10-minute steps
		for i, r := range p.Step(10 * time.Minute) {
			l := &lives[i]
			tr := r.Truth
			switch {
			case tr.Failed:
				l.sawFailed = true
				if r.Values[SensorSpeed] != 0 || r.Values[SensorCurrent] != 0 {
					t.Fatalf("%s failed but running: %v", r.Device, r.Values)
				}
				if tr.Health != 0 || tr.RUL != 0 {
					t.Fatalf("%s failed: truth %+v", r.Device, tr)
				}
				if !l.prev.Failed {
					l.failures++
				}
			case tr.Degrading:
				l.sawDegrading = true
				if tr.Health > l.prev.Health && l.prev.Degrading {
					t.Fatalf("%s health rose while degrading: %v -> %v", r.Device, l.prev.Health, tr.Health)
				}
			default:
				l.sawHealthy = true
				if tr.Health != 1 {
					t.Fatalf("%s healthy with health %v", r.Device, tr.Health)
				}
			}
			if l.prev.Failed && !tr.Failed {
				l.sawRepaired = true
				if tr.Health != 1 && !tr.Degrading {
					t.Fatalf("%s repaired with health %v", r.Device, tr.Health)
				}
			}
			if !tr.Failed && tr.RUL != tr.FailureAt.Sub(r.Time) {
				t.Fatalf("%s RUL %v != FailureAt-Time %v", r.Device, tr.RUL, tr.FailureAt.Sub(r.Time))
			}
			l.prev = tr
		}
	}
	for i, l := range lives {
		if !l.sawHealthy || !l.sawDegrading || !l.sawFailed || !l.sawRepaired || l.failures < 3 {
			t.Errorf("machine %d: %+v", i, l)
		}
	}
}

// Sensors drift with degradation: compare a healthy and a nearly failed
// running sample of the same machine with noise off.
func TestPlantSensorsDrift(t *testing.T) {
	p, _ := NewPlant(Config{Seed: 3, Machines: 4, Classes: Classes(), NoNoise: true})
	type agg struct{ n, rms, kurt, temp, rmsBad, kurtBad, tempBad, nBad float64 }
	acc := map[string]*agg{}
	for range 120 * 24 {
		for _, r := range p.Step(time.Hour) {
			if r.Values[SensorSpeed] == 0 || r.Truth.Mode != ModeBearing && r.Truth.Degrading {
				continue
			}
			a := acc[r.Device]
			if a == nil {
				a = &agg{}
				acc[r.Device] = a
			}
			switch {
			case r.Truth.Health == 1:
				a.n++
				a.rms += r.Values[SensorVibrationRMS]
				a.kurt += r.Values[SensorVibrationKurtosis]
				a.temp += r.Values[SensorBearingTemp]
			case r.Truth.Health < 0.2:
				a.nBad++
				a.rmsBad += r.Values[SensorVibrationRMS]
				a.kurtBad += r.Values[SensorVibrationKurtosis]
				a.tempBad += r.Values[SensorBearingTemp]
			}
		}
	}
	checked := 0
	for dev, a := range acc {
		if a.n == 0 || a.nBad == 0 {
			continue
		}
		checked++
		if a.rmsBad/a.nBad < 1.8*a.rms/a.n || a.kurtBad/a.nBad < a.kurt/a.n+2 || a.tempBad/a.nBad < a.temp/a.n+5 {
			t.Errorf("%s: healthy rms %.2f kurt %.2f temp %.1f; failing rms %.2f kurt %.2f temp %.1f", dev,
				a.rms/a.n, a.kurt/a.n, a.temp/a.n, a.rmsBad/a.nBad, a.kurtBad/a.nBad, a.tempBad/a.nBad)
		}
	}
	if checked == 0 {
		t.Fatal("no bearing failure observed")
	}
}

func TestPlantDevicesAndSensors(t *testing.T) {
	p, _ := NewPlant(Config{Machines: 5, Classes: []string{ClassPump, ClassMotor}})
	want := []string{"pump-0000", "motor-0001", "pump-0002", "motor-0003", "pump-0004"}
	got := p.Devices()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("devices %v, want %v", got, want)
		}
	}
	for _, r := range p.Step(time.Second) {
		for _, s := range []string{SensorVibrationRMS, SensorBearingTemp, SensorCurrent, SensorSpeed, SensorVibrationKurtosis} {
			if _, ok := r.Values[s]; !ok {
				t.Errorf("%s lacks %s", r.Device, s)
			}
		}
		_, hasP := r.Values[SensorPressure]
		if hasP != (r.Class == ClassPump) || len(r.Values) != len(ClassSensors(r.Class)) {
			t.Errorf("%s values %v", r.Device, r.Values)
		}
		if r.Seq != 1 || !r.Time.Equal(DefaultStart.Add(time.Second)) {
			t.Errorf("%s seq %d time %v", r.Device, r.Seq, r.Time)
		}
	}
}

func TestNewPlantBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Machines: -1}, "machines: must be > 0, got -1"},
		{Config{Classes: []string{"pump", "boiler"}}, `classes[1]: unknown machine class "boiler"`},
		{Config{Interval: -time.Second}, "interval: must be > 0, got -1s"},
		{Config{Accel: -2}, "accel: must be > 0, got -2"},
		{Config{Noise: -1}, "noise: must be >= 0, got -1"},
		{Config{FirstMachine: -3}, "first_machine: must be >= 0, got -3"},
		{Config{AddMachines: -1}, "add_machines: must be >= 0, got -1"},
		{Config{AddMachines: 2, AddAt: -time.Hour}, "add_at: must be >= 0, got -1h0m0s"},
		{Config{AddMachines: 2, AddClasses: []string{"conveyor", "belt"}}, `add_classes[1]: unknown machine class "belt"`},
	} {
		_, err := NewPlant(tc.cfg)
		if err == nil || !errors.Is(err, ErrConfig) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
