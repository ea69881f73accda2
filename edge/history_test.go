package edge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference"
)

// TestHistorySampler drives the sampler with the test's own ticks (the
// clock is the tick's time) and checks the rates and gauges it keeps.
func TestHistorySampler(t *testing.T) {
	h := newHistory()
	tick := make(chan time.Time) // unbuffered: a send returns once run took the tick
	calls := int64(0)
	read := func() gauges {
		calls++
		return gauges{readings: 100 * calls, predictions: 50 * calls, invalid: calls, backlogRecords: calls,
			backlogAge: time.Duration(calls) * time.Second, bufferBytes: 1000 * calls, uplink: fmt.Sprint("s", calls)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := goDone(func() { h.run(ctx, tick, read) })
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 4 {
		tick <- t0.Add(time.Duration(i) * historyStep)
	}
	cancel()
	<-done // the fourth tick is recorded before run sees ctx end

	samples, _ := h.snapshot()
	if len(samples) != 3 { // the first tick is the rates' base
		t.Fatalf("%d samples after 4 ticks, want 3", len(samples))
	}
	for i, s := range samples {
		n := int64(i + 2)
		if s.readings != 10 || s.predictions != 5 || s.invalid != 0.1 {
			t.Errorf("sample %d rates = %v/%v/%v per s, want 10/5/0.1", i, s.readings, s.predictions, s.invalid)
		}
		if s.backlogRecords != n || s.backlogAge != time.Duration(n)*time.Second || s.bufferBytes != 1000*n || s.uplink != fmt.Sprint("s", n) {
			t.Errorf("sample %d = %+v, want the gauges of read call %d", i, s, n)
		}
		if want := t0.Add(time.Duration(i+1) * historyStep); !s.t.Equal(want) {
			t.Errorf("sample %d at %v, want %v", i, s.t, want)
		}
	}
}

// TestHistoryRingsAreBounded: an hour of samples and 100 alerts, the
// oldest overwritten, returned oldest first; a counter reset gives 0, not
// a negative rate.
func TestHistoryRingsAreBounded(t *testing.T) {
	h := newHistory()
	t0 := time.Unix(1_700_000_000, 0)
	for i := range historySamples + 41 {
		h.record(t0.Add(time.Duration(i)*historyStep), gauges{readings: int64(i) * 10})
	}
	h.record(t0.Add(time.Duration(historySamples+41)*historyStep), gauges{readings: 0}) // restarted counter
	for i := range historyAlerts + 50 {
		h.addAlert(&inference.AlertEvent{Device: fmt.Sprint("d", i), State: inference.AlertRaised, Score: 0.5, Threshold: 0.4, Time: t0})
	}
	samples, alerts := h.snapshot()
	if len(samples) != historySamples || len(alerts) != historyAlerts {
		t.Fatalf("kept %d samples and %d alerts, want %d and %d", len(samples), len(alerts), historySamples, historyAlerts)
	}
	if want := t0.Add(42 * historyStep); !samples[0].t.Equal(want) {
		t.Errorf("oldest sample at %v, want %v", samples[0].t, want)
	}
	for i := 1; i < len(samples); i++ {
		if !samples[i].t.After(samples[i-1].t) {
			t.Fatalf("samples not oldest first at %d", i)
		}
	}
	if last := samples[len(samples)-1]; last.readings != 0 {
		t.Errorf("rate after a counter reset = %v, want 0", last.readings)
	}
	if samples[0].readings != 1 {
		t.Errorf("rate = %v per s, want 1", samples[0].readings)
	}
	if alerts[0].device != "d50" || alerts[len(alerts)-1].device != "d149" {
		t.Errorf("alerts kept %s..%s, want d50..d149", alerts[0].device, alerts[len(alerts)-1].device)
	}
}

func TestRecentScores(t *testing.T) {
	var r recentScores
	if got := r.list(); len(got) != 0 {
		t.Fatalf("empty ring lists %v", got)
	}
	for i := range sparkLen + 10 {
		r.push(float64(i))
	}
	got := r.list()
	if len(got) != sparkLen || got[0] != 10 || got[sparkLen-1] != sparkLen+9 {
		t.Fatalf("list = %d scores %v..%v, want %d scores 10..%d", len(got), got[0], got[len(got)-1], sparkLen, sparkLen+9)
	}
}
