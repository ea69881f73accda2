package rollout

import (
	"fmt"
	"path"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// Schema is the version of the rollout record (Record.Schema).
const Schema = 1

// DefaultTopic is the rollouts topic's name without the kafka.topic_prefix
// (default edgepm.rollouts): compacted, key = model name.
const DefaultTopic = "rollouts"

// States of a rollout (Record.State). Canary and shadow are active; the
// others are final.
const (
	StateCanary     = "canary"      // Version is served by the canary gateways only
	StateShadow     = "shadow"      // Stable serves; Version is scored in shadow
	StatePromoted   = "promoted"    // Version is served by every targeted gateway
	StateAborted    = "aborted"     // everyone is back on Stable
	StateRolledBack = "rolled_back" // an explicit rollback to an older version
)

// Record is one rollout of a model name: the value of the rollouts topic
// (key = Name, so one rollout per name is current). Its exact JSON bytes
// are signed like a release (see Sign). See docs/formats/rollouts.md.
type Record struct {
	Schema  int    `json:"schema"` // 1
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// Stable is the version every gateway outside the canary serves (and
	// the one an abort returns to).
	Stable string `json:"stable"`
	// CanarySpec is what the operator asked for (--canary or --on):
	// "2", "25%" or ids and globs.
	CanarySpec string `json:"canary_spec"`
	// Canary is the selector the releases carry; Gateways the gateway ids
	// it resolved to when the rollout started (the ones the rule waits for).
	Canary   *bridge.Selector `json:"canary,omitempty"`
	Gateways []string         `json:"gateways"`
	// Shadow is the challenger scored in shadow (state shadow: Version).
	Shadow  string  `json:"shadow,omitempty"`
	State   string  `json:"state"`
	Rule    Rule    `json:"rule"`
	History []Entry `json:"history"`
	// Counter is the counter of the release written with the latest state
	// change; a record with a lower counter than one already read is stale.
	Counter uint64 `json:"counter"`
}

// Rule is the automatic promotion rule `edgepm fleet rollouts watch` applies.
type Rule struct {
	Enabled bool `json:"enabled"`
	// WindowSeconds is how long the canary is watched: any model.rejected
	// within it aborts; at its end the rollout is promoted if every canary
	// gateway activated the version (and agreed enough), else aborted.
	WindowSeconds float64 `json:"window_s"`
	// MinAgreement is the least shadow alert agreement (0..1) a canary
	// gateway must report when a shadow comparison ran; nil = not checked.
	MinAgreement *float64 `json:"min_agreement,omitempty"`
}

// Entry is one state change of a rollout.
type Entry struct {
	State  string    `json:"state"`
	At     time.Time `json:"at"`
	By     string    `json:"by"` // key id (modelpkg.KeyID) of the signing key
	Reason string    `json:"reason,omitempty"`
}

// Window is the rule's window as a duration.
func (r Rule) Window() time.Duration { return time.Duration(r.WindowSeconds * float64(time.Second)) }

// Active reports whether the rollout is still in canary or shadow.
func (r *Record) Active() bool { return r.State == StateCanary || r.State == StateShadow }

// Since is when the rollout entered its current state (the last history
// entry), the zero time when it has none.
func (r *Record) Since() time.Time {
	if len(r.History) == 0 {
		return time.Time{}
	}
	return r.History[len(r.History)-1].At
}

// Transition moves r to state and appends the history entry; counter is
// the counter of the release written with it.
func (r *Record) Transition(state, by, reason string, at time.Time, counter uint64) {
	r.State, r.Counter = state, counter
	r.History = append(r.History, Entry{State: state, At: at.UTC(), By: by, Reason: reason})
}

// Validate checks the record's fields (not its signature).
func (r *Record) Validate() error {
	switch {
	case r.Schema != Schema:
		return fmt.Errorf("rollout record schema %d not supported", r.Schema)
	case r.ID == "":
		return fmt.Errorf("rollout record of %q: no id", r.Name)
	case !modelpkg.ValidName(r.Name) || !modelpkg.ValidName(r.Version):
		return fmt.Errorf("rollout %s: bad model name %q or version %q", r.ID, r.Name, r.Version)
	case !modelpkg.ValidName(r.Stable):
		return fmt.Errorf("rollout %s: bad stable version %q", r.ID, r.Stable)
	case r.Shadow != "" && !modelpkg.ValidName(r.Shadow):
		return fmt.Errorf("rollout %s: bad shadow version %q", r.ID, r.Shadow)
	case r.Counter == 0:
		return fmt.Errorf("rollout %s: counter must be >= 1", r.ID)
	case len(r.History) == 0:
		return fmt.Errorf("rollout %s: empty history", r.ID)
	case r.Rule.WindowSeconds < 0 || r.Rule.Enabled && r.Rule.WindowSeconds == 0:
		return fmt.Errorf("rollout %s: rule window_s must be > 0, got %v", r.ID, r.Rule.WindowSeconds)
	case r.Rule.MinAgreement != nil && (*r.Rule.MinAgreement < 0 || *r.Rule.MinAgreement > 1):
		return fmt.Errorf("rollout %s: rule min_agreement must be within 0..1, got %v", r.ID, *r.Rule.MinAgreement)
	}
	if err := validState(r.State); err != nil {
		return fmt.Errorf("rollout %s: %w", r.ID, err)
	}
	for _, e := range r.History {
		if err := validState(e.State); err != nil {
			return fmt.Errorf("rollout %s history: %w", r.ID, err)
		}
	}
	if r.Canary != nil {
		for _, g := range r.Canary.Globs {
			if _, err := path.Match(g, ""); err != nil {
				return fmt.Errorf("rollout %s: bad glob %q", r.ID, g)
			}
		}
	}
	return nil
}

func validState(s string) error {
	switch s {
	case StateCanary, StateShadow, StatePromoted, StateAborted, StateRolledBack:
		return nil
	}
	return fmt.Errorf("unknown state %q", s)
}

// NewID names a rollout: NAME-VERSION-<UTC time>, unique per name in practice.
func NewID(name, version string, at time.Time) string {
	return name + "-" + version + "-" + at.UTC().Format("20060102T150405Z")
}
