package rollout

import (
	"context"
	"fmt"

	"github.com/edgepm/edgepm/bridge"
)

// Promote moves name's active rollout on: its version to every gateway.
func (o *Operator) Promote(ctx context.Context, name, reason string) (*Record, error) {
	rec, err := o.active(ctx, name)
	if err != nil {
		return nil, err
	}
	return rec, o.Apply(ctx, rec, Decision{Action: Promote, Reason: reason})
}

// Abort stops name's active rollout: everyone back on its stable version.
func (o *Operator) Abort(ctx context.Context, name, reason string) (*Record, error) {
	rec, err := o.active(ctx, name)
	if err != nil {
		return nil, err
	}
	return rec, o.Apply(ctx, rec, Decision{Action: Abort, Reason: reason})
}

// Apply carries out d on rec (an active rollout read from the topic): the
// release first, then rec moved to promoted or aborted and written. It
// refuses with ErrSuperseded when the pointer carries a newer release than
// rec, so a stale rollout cannot undo a later push.
func (o *Operator) Apply(ctx context.Context, rec *Record, d Decision) error {
	if d.Action == Wait {
		return nil
	}
	_, cur, err := o.Releases.Current(ctx, rec.Name)
	if err != nil {
		return err
	}
	if cur != nil && cur.Counter > rec.Counter {
		return fmt.Errorf("rollout %s: %w (release %d, action %s, after the rollout's %d); nothing done",
			rec.ID, ErrSuperseded, cur.Counter, cur.Action, rec.Counter)
	}
	rel := &bridge.Release{Schema: 1, Name: rec.Name, Rollout: rec.ID, Issued: o.now(), Reason: d.Reason}
	state := StatePromoted
	switch d.Action {
	case Promote:
		rel.Action, rel.Version = bridge.ActionPromote, rec.Version
	case Abort:
		rel.Action, rel.Version, state = bridge.ActionAbort, rec.Stable, StateAborted
	}
	written, err := o.Releases.Publish(ctx, rel, o.Priv)
	if err != nil {
		return err
	}
	rec.Transition(state, o.KeyID(), d.Reason, o.now(), written.Counter)
	return o.Store.Write(ctx, rec, o.Priv)
}

// Rollback makes every gateway serve version to of name again, with a
// signed release of a higher counter; name's rollout record, if any,
// records it (state rolled_back). It returns the release written and the
// version served before.
func (o *Operator) Rollback(ctx context.Context, name, to, reason string) (written *bridge.Release, from string, err error) {
	from, _, err = o.Releases.Current(ctx, name)
	if err != nil {
		return nil, "", err
	}
	rel := &bridge.Release{Schema: 1, Name: name, Action: bridge.ActionRollback, Version: to, Issued: o.now(), Reason: reason}
	rec, err := o.Store.Latest(ctx, name)
	if err != nil {
		return nil, "", err
	}
	if rec != nil {
		rel.Rollout = rec.ID
	}
	if written, err = o.Releases.Publish(ctx, rel, o.Priv); err != nil {
		return nil, "", err
	}
	if rec == nil {
		rec = &Record{Schema: Schema, ID: NewID(name, to, o.now()), Name: name, Version: to, Stable: to, Gateways: []string{}}
		if from != "" {
			rec.Stable = from
		}
	}
	if reason == "" {
		reason = "rollback to " + to
	}
	rec.Transition(StateRolledBack, o.KeyID(), reason, o.now(), written.Counter)
	return written, from, o.Store.Write(ctx, rec, o.Priv)
}

func (o *Operator) active(ctx context.Context, name string) (*Record, error) {
	rec, err := o.Store.Latest(ctx, name)
	if err != nil {
		return nil, err
	}
	if rec == nil || !rec.Active() {
		state := "none"
		if rec != nil {
			state = rec.State + " (" + rec.ID + ")"
		}
		return nil, fmt.Errorf("model %s: %w (latest rollout: %s)", name, ErrNotActive, state)
	}
	return rec, nil
}
