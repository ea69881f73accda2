package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Action is what the automatic rule decides for a rollout.
type Action int

// Actions of Decide.
const (
	Wait    Action = iota // nothing to do yet
	Promote               // move Version to every gateway
	Abort                 // everyone back to Stable
)

func (a Action) String() string {
	switch a {
	case Promote:
		return "promote"
	case Abort:
		return "abort"
	}
	return "wait"
}

// Observed is what the fleet reported about a rollout's version since the
// rollout entered its current state.
type Observed struct {
	// Activated holds the gateways that reported model.activated of the
	// version (or whose heartbeat shows it active).
	Activated map[string]bool
	// Rejected maps a gateway to the reason of its model.rejected of the version.
	Rejected map[string]string
	// Agreement maps a gateway to the shadow alert agreement of its latest
	// heartbeat, when it scores the rollout's shadow version.
	Agreement map[string]float64
}

// Decision is Decide's answer, with the reason written to the history.
type Decision struct {
	Action Action
	Reason string
}

// Decide applies r's rule to what was observed, at now. It is pure.
//
//   - not active, or the rule disabled: Wait;
//   - a model.rejected of the version by a canary gateway: Abort at once;
//   - before the window ends: Wait;
//   - at its end: Abort when a canary gateway did not activate the
//     version (canary state), or when a shadow ran and a canary gateway
//     reported no agreement or one below min_agreement; else Promote.
func Decide(r *Record, o Observed, now time.Time) Decision {
	if !r.Active() || !r.Rule.Enabled {
		return Decision{Action: Wait}
	}
	if d, ok := rejected(r, o); ok {
		return d
	}
	end := r.Since().Add(r.Rule.Window())
	if now.Before(end) {
		return Decision{Action: Wait, Reason: fmt.Sprintf("watching until %s", end.Format(time.RFC3339))}
	}
	if len(r.Gateways) == 0 {
		return Decision{Action: Abort, Reason: "no gateway was selected, so none could report " + r.Version}
	}
	if r.State == StateCanary {
		var missing []string
		for _, g := range r.Gateways {
			if !o.Activated[g] {
				missing = append(missing, g)
			}
		}
		if len(missing) > 0 {
			return Decision{Action: Abort, Reason: fmt.Sprintf("timeout: %s did not report model.activated of %s within %s",
				strings.Join(missing, ", "), r.Version, r.Rule.Window())}
		}
	}
	if d, ok := disagreed(r, o); ok {
		return d
	}
	return Decision{Action: Promote, Reason: fmt.Sprintf("rule: %d canary gateways ran %s for %s without a rejection",
		len(r.Gateways), r.Version, r.Rule.Window())}
}

func rejected(r *Record, o Observed) (Decision, bool) {
	var ids []string
	for g := range o.Rejected {
		if slices.Contains(r.Gateways, g) || r.Canary.Selects(g) {
			ids = append(ids, g)
		}
	}
	if len(ids) == 0 {
		return Decision{}, false
	}
	slices.Sort(ids)
	return Decision{Action: Abort, Reason: fmt.Sprintf("gateway %s rejected %s:%s: %s", ids[0], r.Name, r.Version, o.Rejected[ids[0]])}, true
}

func disagreed(r *Record, o Observed) (Decision, bool) {
	if r.Shadow == "" || r.Rule.MinAgreement == nil {
		return Decision{}, false
	}
	minA := *r.Rule.MinAgreement
	for _, g := range r.Gateways {
		a, ok := o.Agreement[g]
		switch {
		case !ok:
			return Decision{Action: Abort, Reason: fmt.Sprintf("gateway %s reported no shadow agreement for %s within %s", g, r.Shadow, r.Rule.Window())}, true
		case a < minA:
			return Decision{Action: Abort, Reason: fmt.Sprintf("gateway %s: shadow alert agreement %.3f below min_agreement %.3f", g, a, minA)}, true
		}
	}
	return Decision{}, false
}
