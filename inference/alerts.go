package inference

import "time"

// alertState is one device's alert hysteresis, owned by Run's goroutine.
type alertState struct {
	raised  bool
	pending time.Time // when the score first crossed toward flipping; zero if not
}

// update applies one prediction against m's manifest thresholds (see apply).
func (a *alertState) update(m *model, p *Prediction) (AlertEvent, bool) {
	return a.apply(m.man.Thresholds, lowIsBad(m.man.OutputSemantics), p)
}

// apply applies one prediction and returns an event when the state flips:
// raise after the score stays at/over Raise (at/under when rul, a low score
// is bad) for MinDuration of window-end time, clear after it stays under
// Clear (over when rul) for MinDuration. A crossing resets when the score
// falls back.
func (a *alertState) apply(th Thresholds, rul bool, p *Prediction) (AlertEvent, bool) {
	var crossing bool
	threshold := th.Raise
	if !a.raised {
		crossing = p.Score >= th.Raise
		if rul {
			crossing = p.Score <= th.Raise
		}
	} else {
		threshold = th.Clear
		crossing = p.Score < th.Clear
		if rul {
			crossing = p.Score > th.Clear
		}
	}
	if !crossing {
		a.pending = time.Time{}
		return AlertEvent{}, false
	}
	if a.pending.IsZero() {
		a.pending = p.WindowEnd
	}
	if p.WindowEnd.Sub(a.pending) < time.Duration(th.MinDuration) {
		return AlertEvent{}, false
	}
	a.raised = !a.raised
	a.pending = time.Time{}
	state := AlertCleared
	if a.raised {
		state = AlertRaised
	}
	return AlertEvent{Device: p.Device, Model: p.Model, ModelVersion: p.ModelVersion, State: state,
		Score: p.Score, Threshold: threshold, Time: p.WindowEnd}, true
}
