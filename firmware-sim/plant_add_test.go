package sim

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
)

// Added machines appear exactly at Start+AddAt, whether a step lands on it
// or jumps over it: none of their readings before, all of them from then on,
// after the initial machines', with the indexes after the initial ones. The
// initial machines are not changed by the addition.
func TestPlantAddMachinesAtAddAt(t *testing.T) {
	for _, dt := range []time.Duration{10 * time.Minute, 7 * time.Minute} {
		cfg := Config{Seed: 5, Machines: 3, FirstMachine: 20, AddAt: 2 * time.Hour, AddMachines: 4,
			AddClasses: []string{ClassConveyor, ClassPump}}
		p, err := NewPlant(cfg)
		if err != nil {
			t.Fatal(err)
		}
		base, _ := NewPlant(Config{Seed: 5, Machines: 3, FirstMachine: 20})
		initial := []string{"pump-0020", "motor-0021", "fan-0022"}
		all := append(slices.Clone(initial), "conveyor-0023", "pump-0024", "conveyor-0025", "pump-0026")
		if got := p.Devices(); !slices.Equal(got, initial) {
			t.Fatalf("devices at start %v", got)
		}
		addAt := DefaultStart.Add(cfg.AddAt)
		seen := false
		for range 40 {
			rs, rb := p.Step(dt), base.Step(dt)
			want := initial
			if !p.Now().Before(addAt) {
				want = all
			}
			if got := devicesOf(rs); !slices.Equal(got, want) || !slices.Equal(p.Devices(), want) {
				t.Fatalf("dt %s, at %s: readings of %v, Devices %v, want %v", dt, p.Now().Sub(DefaultStart), got, p.Devices(), want)
			}
			for i := range rb {
				if !bytes.Equal(EncodePayload(rs[i]), EncodePayload(rb[i])) || rs[i].Truth != rb[i].Truth {
					t.Fatalf("initial machine %s changed by the addition", rb[i].Device)
				}
			}
			for _, r := range rs[len(initial):] {
				if !seen { // the first readings of the new machines: healthy, running, in a fresh life
					if r.Seq != 1 || r.Truth.Health != 1 || r.Truth.Degrading || r.Values[SensorSpeed] == 0 ||
						r.Truth.FailureAt.Sub(addAt) < time.Hour {
						t.Fatalf("new machine's first reading %+v", r)
					}
				}
			}
			seen = seen || len(rs) > len(initial)
		}
		if !seen {
			t.Fatalf("dt %s: no added machine seen", dt)
		}
	}
}

func devicesOf(rs []Reading) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Device
	}
	return out
}

// AddAt 0 adds the machines at the start; AddClasses defaults to Classes.
func TestPlantAddMachinesAtStart(t *testing.T) {
	p, err := NewPlant(Config{Machines: 2, AddMachines: 2, Classes: []string{ClassFan}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fan-0000", "fan-0001", "fan-0002", "fan-0003"}
	if got := p.Devices(); !slices.Equal(got, want) {
		t.Fatalf("devices %v, want %v", got, want)
	}
	if got := devicesOf(p.Step(time.Second)); !slices.Equal(got, want) {
		t.Fatalf("readings of %v, want %v", got, want)
	}
}

// FirstMachine offsets the device ids, and the machine with index k is the
// same machine whichever plant holds it: two lines with disjoint index
// ranges have distinct ids and independent streams.
func TestPlantFirstMachine(t *testing.T) {
	offset, _ := NewPlant(Config{Seed: 2, Machines: 2, FirstMachine: 100, Classes: []string{ClassPump}})
	wide, _ := NewPlant(Config{Seed: 2, Machines: 102, Classes: []string{ClassPump}})
	if got := offset.Devices(); !slices.Equal(got, []string{"pump-0100", "pump-0101"}) {
		t.Fatalf("devices %v", got)
	}
	differs := false
	for range 200 {
		ro, rw := offset.Step(10*time.Minute), wide.Step(10*time.Minute)
		for i, r := range ro {
			same, first := rw[100+i], rw[i]
			if r.Device != same.Device || !bytes.Equal(EncodePayload(r), EncodePayload(same)) || r.Truth != same.Truth {
				t.Fatalf("%s differs from the same index in a wider plant", r.Device)
			}
			differs = differs || !bytes.Equal(EncodePayload(r), EncodePayload(first))
		}
	}
	if !differs {
		t.Fatal("FirstMachine did not change the random streams")
	}
}

// The added machines' failures reach the truth, the labels and the score
// exactly as the initial machines' do.
func TestPlantAddedMachinesTruthAndLabels(t *testing.T) {
	p, err := NewPlant(Config{Seed: 4, Machines: 4, AddAt: 5 * 24 * time.Hour, AddMachines: 4,
		AddClasses: []string{ClassConveyor}, Interval: 10 * time.Minute,
		MeanTimeToOnset: 3 * 24 * time.Hour, MeanDegradation: 24 * time.Hour, RepairTime: 6 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rec := &labelRecorder{}
	lb, _ := NewLabeler(rec, time.Hour)
	var truth bytes.Buffer
	pub, err := NewPublisher(&PlantSource{Plant: p, Interval: 10 * time.Minute}, NewWriterSink(&bytes.Buffer{}),
		PublisherConfig{Truth: &truth, Labels: lb, Count: 30 * 24 * 6 * 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	gt, err := ReadTruth(&truth)
	if err != nil {
		t.Fatal(err)
	}
	end := gt.Span["pump-0000"][1]
	var alerts []Event
	belt, due := 0, 0
	for _, f := range gt.Failures {
		if strings.HasPrefix(f.Device, ClassConveyor) {
			belt++
			alerts = append(alerts, Event{Device: f.Device, Time: f.At.Add(-time.Hour), Score: 1, State: "raised"})
			if !f.At.Add(time.Hour).After(end) {
				due++
			}
		}
	}
	if span := gt.Span["conveyor-0004"]; !span[0].Equal(DefaultStart.Add(5*24*time.Hour)) || belt < 4 {
		t.Fatalf("conveyor-0004 span %v, %d conveyor failures in the truth", span, belt)
	}
	labelled := 0
	for _, l := range rec.got {
		if strings.HasPrefix(l.Device, ClassConveyor) && l.Kind == wire.LabelFailure {
			labelled++
			if l.Text != "failure: belt, machine stopped" {
				t.Fatalf("label %+v", l)
			}
		}
	}
	if labelled != due {
		t.Fatalf("%d conveyor failure labels for %d failures due by the end", labelled, due)
	}
	if s := Score(gt, alerts, 24*time.Hour); s.Detected != belt || s.FalsePositive != 0 {
		t.Fatalf("score of perfect conveyor alerts: %+v", s)
	}
}
