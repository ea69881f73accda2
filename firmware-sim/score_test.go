package sim

import (
	"bytes"
	"math"
	"testing"
	"time"
)

func TestParseEvent(t *testing.T) {
	ev, err := ParseEvent([]byte(`{"device":"pump-0001","window_end":1735689601000,"score":0.93,"model":"m"}`))
	if err != nil || ev.Device != "pump-0001" || ev.Time.UnixMilli() != 1735689601000 || ev.Score != 0.93 || ev.State != "" {
		t.Fatalf("%+v %v", ev, err)
	}
	ev, err = ParseEvent([]byte(`{"device":"d","ts":"2025-01-01T00:00:00Z","state":"raised","score":0.9}`))
	if err != nil || ev.State != "raised" || !ev.Time.Equal(DefaultStart) {
		t.Fatalf("%+v %v", ev, err)
	}
	for _, bad := range []string{`{`, `{"device":"d"}`, `{"ts":1}`} {
		if _, err := ParseEvent([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestScore(t *testing.T) {
	h := time.Hour
	at := func(hours float64) time.Time { return DefaultStart.Add(time.Duration(hours * float64(h))) }
	gt := &GroundTruth{
		Failures: []Failure{
			{Device: "a", At: at(100), RepairedAt: at(108)},
			{Device: "a", At: at(300), RepairedAt: at(305)},
			{Device: "b", At: at(200)},
		},
		Span: map[string][2]time.Time{"a": {at(0), at(480)}, "b": {at(0), at(480)}}, // 40 machine-days
	}
	alerts := []Event{
		{Device: "a", Time: at(90), State: "raised"},  // TP, lead 10h
		{Device: "a", Time: at(95), State: "raised"},  // TP, same failure
		{Device: "a", Time: at(96), State: "cleared"}, // ignored
		{Device: "a", Time: at(103), State: "raised"}, // late (down)
		{Device: "a", Time: at(150), State: "raised"}, // FP
		{Device: "b", Time: at(199), State: "raised"}, // TP, lead 1h
		{Device: "b", Time: at(10), State: "raised"},  // FP
		{Device: "c", Time: at(10), State: "raised"},  // FP (no failures)
	}
	r := Score(gt, alerts, 24*h)
	if r.Failures != 3 || r.Detected != 2 || r.Raised != 7 || r.TruePositive != 3 || r.Late != 1 || r.FalsePositive != 3 {
		t.Fatalf("%+v", r)
	}
	if r.Precision != 0.5 || math.Abs(r.Recall-2.0/3) > 1e-12 || r.MachineDays != 40 || r.FalseAlarmsPerMachineDay != 3.0/40 {
		t.Fatalf("%+v", r)
	}
	if len(r.LeadTimes) != 2 || r.LeadTimes[0] != h || r.LeadTimes[1] != 10*h || r.Quantile(0.5) != 10*h || r.Quantile(0) != h {
		t.Fatalf("lead %v", r.LeadTimes)
	}
	if r := Score(&GroundTruth{}, nil, h); r.Precision != 0 || r.Recall != 0 {
		t.Fatalf("empty %+v", r)
	}
}

// Truth written by a plant run reads back with its failures; a perfect
// alerter (raised at RUL <= 12h) scores precision and recall 1.
func TestReadTruthAndPerfectScore(t *testing.T) {
	p, _ := NewPlant(Config{Seed: 2, Machines: 5, MeanTimeToOnset: 3 * 24 * time.Hour, MeanDegradation: 24 * time.Hour})
	var buf bytes.Buffer
	var alerts []Event
	raised := map[string]bool{}
	for range 30 * 24 * 6 {
		for _, r := range p.Step(10 * time.Minute) {
			buf.Write(AppendTruth(nil, r))
			buf.WriteByte('\n')
			up := !r.Truth.Failed && r.Truth.RUL <= 12*time.Hour
			if up && !raised[r.Device] {
				alerts = append(alerts, Event{Device: r.Device, Time: r.Time, State: "raised"})
			}
			if !up && raised[r.Device] {
				alerts = append(alerts, Event{Device: r.Device, Time: r.Time, State: "cleared"})
			}
			raised[r.Device] = up
		}
	}
	gt, err := ReadTruth(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(gt.Failures) < 10 || len(gt.Span) != 5 {
		t.Fatalf("failures %d spans %d", len(gt.Failures), len(gt.Span))
	}
	r := Score(gt, alerts, 24*time.Hour)
	if r.Precision != 1 || r.Recall != 1 || r.Quantile(0.5) > 12*time.Hour || r.Quantile(0.5) < 11*time.Hour {
		t.Fatalf("%+v", r)
	}
	derived := AlertsFromPredictions([]Event{{Device: "a", Time: DefaultStart, Score: 0.9}, {Device: "a", Time: DefaultStart.Add(time.Hour), Score: 0.1}, {Device: "a", Time: DefaultStart.Add(-time.Hour), Score: 0.2}}, 0.5)
	if len(derived) != 2 || derived[0].State != "raised" || derived[1].State != "cleared" {
		t.Fatalf("derived %+v", derived)
	}
}
