package inference

import "time"

// alertRule is the alert rule, defined here and nowhere else: hysteresis
// between the Raise and Clear thresholds with a minimum duration, for a
// model's output semantics. Both scoring paths (EngineConfig.Scoring) step
// every row with a finite output through step; nothing else decides
// whether a row changes a device's alert state.
type alertRule struct {
	th  Thresholds
	rul bool // low scores are bad (remaining useful life)
}

// ruleFor returns the rule for m under the threshold override ovr (nil:
// none; see thresholdsWith).
func ruleFor(m *model, ovr *Thresholds) alertRule {
	th, _ := thresholdsWith(m, ovr)
	return alertRule{th: th, rul: lowIsBad(m.man.OutputSemantics)}
}

// alertState is one device's alert hysteresis, owned by Run's goroutine.
type alertState struct {
	raised  bool
	pending bool  // the score has crossed toward flipping
	since   int64 // window end (UnixNano) of the first crossing; valid when pending
}

// step applies one score (of the window ending at end) to a and reports
// when the state flips, with the new state and the threshold crossed: raise
// after the score stays at/over Raise (at/under when rul, a low score is
// bad) for MinDuration of window-end time, clear after it stays under Clear
// (over when rul) for MinDuration. A crossing resets when the score falls
// back. score must be finite (a row with a non-finite output changes no
// state).
func (r *alertRule) step(a *alertState, score float64, end time.Time) (state string, threshold float64, flipped bool) {
	if !r.crosses(a.raised, score) {
		a.pending = false
		return "", 0, false
	}
	threshold = r.th.Raise
	if a.raised {
		threshold = r.th.Clear
	}
	t := end.UnixNano()
	if !a.pending || t < a.since { // a window end before the crossing began: the device clock went back
		a.pending, a.since = true, t
	}
	if time.Duration(t-a.since) < time.Duration(r.th.MinDuration) {
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
// for the state raised: at/over Raise (at/under when rul) while not raised,
// under Clear (over when rul) while raised.
func (r *alertRule) crosses(raised bool, score float64) bool {
	switch {
	case raised && r.rul:
		return score > r.th.Clear
	case raised:
		return score < r.th.Clear
	case r.rul:
		return score <= r.th.Raise
	}
	return score >= r.th.Raise
}
