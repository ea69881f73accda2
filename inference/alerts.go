package inference

import "time"

// alertState is one device's alert hysteresis, owned by Run's goroutine.
type alertState struct {
	raised  bool
	pending bool  // the score has crossed toward flipping
	since   int64 // window end (UnixNano) of the first crossing; valid when pending
}

// update applies one prediction against m's manifest thresholds (see step).
func (a *alertState) update(m *model, p *Prediction) (AlertEvent, bool) {
	th := m.man.Thresholds
	state, threshold, ok := a.step(&th, lowIsBad(m.man.OutputSemantics), p.Score, p.WindowEnd)
	if !ok {
		return AlertEvent{}, false
	}
	return AlertEvent{Device: p.Device, Model: p.Model, ModelVersion: p.ModelVersion, State: state,
		Score: p.Score, Threshold: threshold, Time: p.WindowEnd}, true
}

// step applies one score (of the window ending at end) and reports when the
// state flips, with the new state and the threshold crossed: raise after the
// score stays at/over Raise (at/under when rul, a low score is bad) for
// MinDuration of window-end time, clear after it stays under Clear (over
// when rul) for MinDuration. A crossing resets when the score falls back.
func (a *alertState) step(th *Thresholds, rul bool, score float64, end time.Time) (state string, threshold float64, flipped bool) {
	if !a.crosses(th, rul, score) {
		a.pending = false
		return "", 0, false
	}
	threshold = th.Raise
	if a.raised {
		threshold = th.Clear
	}
	t := end.UnixNano()
	if !a.pending || t < a.since { // a window end before the crossing began: the device clock went back
		a.pending, a.since = true, t
	}
	if time.Duration(t-a.since) < time.Duration(th.MinDuration) {
		return "", 0, false
	}
	a.raised = !a.raised
	a.pending = false
	if a.raised {
		return AlertRaised, threshold, true
	}
	return AlertCleared, threshold, true
}

// crosses reports whether score is on the flipping side of the threshold
// for the current state: at/over Raise (at/under when rul) while not
// raised, under Clear (over when rul) while raised.
func (a *alertState) crosses(th *Thresholds, rul bool, score float64) bool {
	switch {
	case a.raised && rul:
		return score > th.Clear
	case a.raised:
		return score < th.Clear
	case rul:
		return score <= th.Raise
	}
	return score >= th.Raise
}

// quiet reports whether score leaves the state as it is with nothing to
// record (no crossing pending, none starting): the common case, inlined.
func (a *alertState) quiet(th *Thresholds, rul bool, score float64) bool {
	return !a.pending && !a.crosses(th, rul, score)
}
