package inference

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/features"
)

// TestSetThresholdsOverridesHysteresis: Run's alert hysteresis follows
// SetThresholds (raise, clear, min_duration) across a model swap; an invalid
// override is refused and the previous one kept; nil restores the manifest's.
func TestSetThresholdsOverridesHysteresis(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	if err := e.Load(constPackage(t, "1", -1)); err != nil { // raise 0.7, clear 0.5
		t.Fatal(err)
	}
	c := startRun(t, e)
	next := 0
	observe := func(want int) {
		t.Helper()
		if err := e.Observe(context.Background(), reading("a", next)); err != nil {
			t.Fatal(err)
		}
		next++
		waitFor(t, "prediction", func() bool { return c.count() >= want })
	}
	alerts := func() []AlertEvent {
		c.mu.Lock()
		defer c.mu.Unlock()
		return append([]AlertEvent(nil), c.alerts...)
	}
	for i := 0; i < 9; i++ {
		observe(0)
	}
	observe(1)
	s := c.preds[0].Score // sigmoid(-1) ~0.27, under the manifest's raise
	if len(alerts()) != 0 || math.Abs(s-0.2689) > 1e-3 {
		t.Fatalf("score %v, alerts %v", s, alerts())
	}

	over := Thresholds{Raise: s / 2, Clear: s / 4, MinDuration: features.Duration(2 * time.Second)}
	if err := e.SetThresholds(&over); err != nil {
		t.Fatal(err)
	}
	observe(2) // crossing starts
	observe(3) // 1s < min_duration
	if a := alerts(); len(a) != 0 {
		t.Fatalf("raised before min_duration: %v", a)
	}
	observe(4) // 2s: raised
	if a := alerts(); len(a) != 1 || a[0].State != AlertRaised || a[0].Threshold != over.Raise {
		t.Fatalf("alerts %+v, want raised at %v", a, over.Raise)
	}

	if err := e.SetThresholds(&Thresholds{Raise: 2, Clear: 0.1}); err == nil {
		t.Fatal("raise 2 accepted for a failure probability")
	}
	if err := e.SetThresholds(&Thresholds{Raise: math.NaN()}); err == nil {
		t.Fatal("NaN accepted")
	}
	if th, overridden, ok := e.Thresholds(); !ok || !overridden || th != over {
		t.Fatalf("thresholds %+v %v %v, want the kept override", th, overridden, ok)
	}

	// A new model keeps the override; clear at 0.98 with no min_duration.
	if err := e.Load(constPackage(t, "2", -1)); err != nil {
		t.Fatal(err)
	}
	if err := e.SetThresholds(&Thresholds{Raise: 0.99, Clear: 0.98}); err != nil {
		t.Fatal(err)
	}
	observe(5)
	if a := alerts(); len(a) != 2 || a[1].State != AlertCleared || a[1].ModelVersion != "2" || a[1].Threshold != 0.98 {
		t.Fatalf("alerts %+v, want cleared by model 2 at 0.98", a)
	}

	if err := e.SetThresholds(nil); err != nil {
		t.Fatal(err)
	}
	if th, overridden, _ := e.Thresholds(); overridden || th.Raise != 0.7 || th.Clear != 0.5 {
		t.Fatalf("after nil: %+v overridden %v", th, overridden)
	}
}

// TestThresholdOverrideMustFitModel: an override that does not fit a later
// model's output semantics is not applied to it.
func TestThresholdOverrideMustFitModel(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	if err := e.SetThresholds(&Thresholds{Raise: 0.9, Clear: 0.95}); err != nil { // no model: generic checks only
		t.Fatal(err)
	}
	if err := e.Load(constPackage(t, "1", -1)); err != nil {
		t.Fatal(err)
	}
	// clear > raise is invalid for a failure probability: the manifest's apply.
	if th, overridden, _ := e.Thresholds(); overridden || th.Raise != 0.7 {
		t.Fatalf("misfit override applied: %+v", th)
	}
}

// TestAlertPendingSurvivesClockGoingBack: a crossing that began at a window
// end later than the current one (the device clock went back) restarts its
// min_duration from the current window end instead of waiting for the
// clock to catch up.
func TestAlertPendingSurvivesClockGoingBack(t *testing.T) {
	th := Thresholds{Raise: 0.8, Clear: 0.5, MinDuration: features.Duration(30 * time.Second)}
	var a alertState
	rule := alertRule{th: th}
	at := func(s int) time.Time { return t0().Add(time.Duration(s) * time.Second) }
	if _, _, flipped := rule.step(&a, 0.9, at(1000)); flipped {
		t.Fatal("raised at once")
	}
	if _, _, flipped := rule.step(&a, 0.9, at(10)); flipped { // clock set back
		t.Fatal("raised at the step back")
	}
	if state, _, flipped := rule.step(&a, 0.9, at(40)); !flipped || state != AlertRaised {
		t.Fatalf("not raised 30 s after the step back (state %q)", state)
	}
}
