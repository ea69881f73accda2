package rollout

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// Releases is the models topic as the operator needs it (BridgeReleases
// in production).
type Releases interface {
	// Current returns the version name's pointer serves to gateways
	// outside any canary, and the release it carries (nil for an unsigned
	// pointer); version "" when there is no pointer.
	Current(ctx context.Context, name string) (version string, rel *bridge.Release, err error)
	// Publish signs rel and writes it as the pointer of rel.Name (a
	// Counter of 0 becomes the highest on the topic plus one) and returns
	// the release written.
	Publish(ctx context.Context, rel *bridge.Release, priv ed25519.PrivateKey) (*bridge.Release, error)
}

// Operator changes rollouts: every change writes a signed release to the
// models topic first, then the signed record to the rollouts topic, both
// with priv (a model-signing key). Safe for concurrent use; its calls
// block on Kafka.
type Operator struct {
	Store    *Store
	Releases Releases
	Priv     ed25519.PrivateKey
	Now      func() time.Time // nil = time.Now
}

func (o *Operator) now() time.Time {
	if o.Now == nil {
		return time.Now().UTC()
	}
	return o.Now().UTC()
}

// KeyID is the id of the operator's key, written as "by" in the history.
func (o *Operator) KeyID() string {
	return modelpkg.KeyID(o.Priv.Public().(ed25519.PublicKey))
}

// Plan is a new rollout before anything is written: the record and the
// release template that starts it.
type Plan struct {
	Record  *Record
	Release *bridge.Release
}

// PlanCanary plans a canary of name:version over the gateways spec selects
// among known; stable is the version everyone else keeps.
func (o *Operator) PlanCanary(name, version, stable, spec string, known []string, rule Rule) (*Plan, error) {
	if stable == "" || stable == version {
		return nil, fmt.Errorf("canary %s:%s: the model has no other served version to keep (push it without --canary first)", name, version)
	}
	now := o.now()
	id := NewID(name, version, now)
	sel, ids, err := Resolve(spec, id, known)
	if err != nil {
		return nil, err
	}
	rec := &Record{Schema: Schema, ID: id, Name: name, Version: version, Stable: stable, CanarySpec: spec,
		Canary: sel, Gateways: ids, State: StateCanary, Rule: rule,
		History: []Entry{{State: StateCanary, At: now, By: o.KeyID(), Reason: "canary to " + spec}}}
	rel := &bridge.Release{Schema: 1, Name: name, Action: bridge.ActionCanary, Version: version,
		Stable: stable, Canary: sel, Rollout: id, Issued: now}
	return &Plan{Record: rec, Release: rel}, nil
}

// PlanShadow plans scoring challenger in shadow beside the version name
// serves now (stable), on the gateways spec selects ("" = every gateway).
func (o *Operator) PlanShadow(name, challenger, stable, spec string, known []string, rule Rule) (*Plan, error) {
	if stable == "" || stable == challenger {
		return nil, fmt.Errorf("shadow %s:%s: it must differ from the served version %q", name, challenger, stable)
	}
	now := o.now()
	id := NewID(name, challenger, now)
	rec := &Record{Schema: Schema, ID: id, Name: name, Version: challenger, Stable: stable, CanarySpec: spec,
		Gateways: known, Shadow: challenger, State: StateShadow, Rule: rule,
		History: []Entry{{State: StateShadow, At: now, By: o.KeyID(), Reason: "shadow on " + dashIfEmpty(spec)}}}
	rel := &bridge.Release{Schema: 1, Name: name, Action: bridge.ActionShadow, Version: stable,
		Shadow: challenger, Rollout: id, Issued: now}
	if spec != "" {
		sel, ids, err := Resolve(spec, id, known)
		if err != nil {
			return nil, err
		}
		rec.Canary, rec.Gateways, rel.ShadowOn = sel, ids, sel
	}
	return &Plan{Record: rec, Release: rel}, nil
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "every gateway"
	}
	return s
}

// Start publishes p's release and then writes its record.
func (o *Operator) Start(ctx context.Context, p *Plan) (*Record, error) {
	written, err := o.Releases.Publish(ctx, p.Release, o.Priv)
	if err != nil {
		return nil, err
	}
	return p.Record, o.Commit(ctx, p.Record, written)
}

// Commit writes rec with the counter of the release written for it (used
// after a push that published the release together with the package).
func (o *Operator) Commit(ctx context.Context, rec *Record, written *bridge.Release) error {
	rec.Counter = written.Counter
	return o.Store.Write(ctx, rec, o.Priv)
}
