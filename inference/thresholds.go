package inference

import (
	"fmt"
	"time"
)

// SetThresholds overrides the alert thresholds (raise, clear, min_duration)
// of the active model and of every model loaded later, until called with
// nil, which restores each model's manifest thresholds. It is meant for a
// live reload (SIGHUP) of the operator's configuration.
//
// t is validated like a manifest's thresholds against the active model's
// output semantics (without an active model, only the checks common to all
// semantics apply); an invalid t is returned as an error and the previous
// override stays in force. A model loaded later whose semantics t does not
// fit (e.g. a probability threshold for a remaining-useful-life model) uses
// its manifest thresholds, and Load logs a warning. Alert state already
// pending or raised is kept: the next prediction of each device is judged
// against t. Safe for concurrent use with Run and Load.
func (e *Engine) SetThresholds(t *Thresholds) error {
	if t == nil {
		e.thresholds.Store(nil)
		e.log.Info("alert thresholds: manifest values restored")
		return nil
	}
	sem := ""
	if m := e.cur.Load(); m != nil {
		sem = m.man.OutputSemantics
	}
	if err := t.Validate(sem); err != nil {
		return fmt.Errorf("set alert thresholds: %w", err)
	}
	c := *t
	e.thresholds.Store(&c)
	e.log.Info("alert thresholds overridden", "raise", c.Raise, "clear", c.Clear,
		"min_duration", time.Duration(c.MinDuration))
	return nil
}

// Thresholds returns the alert thresholds that apply to the active model
// and whether they come from SetThresholds; ok is false without an active
// model. Safe for concurrent use.
func (e *Engine) Thresholds() (t Thresholds, overridden, ok bool) {
	m := e.cur.Load()
	if m == nil {
		return Thresholds{}, false, false
	}
	t, overridden = e.thresholdsFor(m)
	return t, overridden, true
}

// thresholdsFor returns the thresholds that apply to m: the override when
// one is set and it fits m's output semantics, else m's manifest thresholds.
func (e *Engine) thresholdsFor(m *model) (_ Thresholds, overridden bool) {
	return thresholdsWith(m, e.thresholds.Load())
}

// thresholdsWith returns the thresholds that apply to m under the override
// ovr (nil: none).
func thresholdsWith(m *model, ovr *Thresholds) (_ Thresholds, overridden bool) {
	if ovr != nil && ovr.Validate(m.man.OutputSemantics) == nil {
		return *ovr, true
	}
	return m.man.Thresholds, false
}
