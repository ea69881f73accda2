package rollout

import (
	"context"
	"fmt"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// RefuseActive fails when name already has an active rollout.
func (o *Operator) RefuseActive(ctx context.Context, name string) error {
	rec, err := o.Store.Latest(ctx, name)
	if err != nil {
		return err
	}
	if rec != nil && rec.Active() {
		return fmt.Errorf("model %s: rollout %s is still in %s; `edgepm model promote %s` or `edgepm model abort %s` first",
			name, rec.ID, rec.State, name, name)
	}
	return nil
}

// ServingGateways are the ids the gateways topic of cfg says serve name.
func ServingGateways(ctx context.Context, cfg bridge.Config, name string) ([]string, error) {
	hbs, err := Heartbeats(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	return Serving(hbs, name), nil
}

// PushCanary publishes pkg to the models topic of cfg with a signed canary
// release over the gateways spec selects (never every gateway: the others
// keep the served version), then writes the rollout record. It is
// `edgepm model push --canary` and `edgepm-train --evaluate --push-canary`.
// It blocks on Kafka.
func (o *Operator) PushCanary(ctx context.Context, cfg bridge.Config, pkg *modelpkg.Package, spec string, chunk int, rule Rule) (*Record, error) {
	if rule.MinAgreement != nil {
		return nil, fmt.Errorf("--min-agreement applies to `edgepm model shadow` rollouts: a canary runs no shadow comparison")
	}
	man, err := pkg.Decode()
	if err != nil {
		return nil, err
	}
	if err := o.RefuseActive(ctx, man.Name); err != nil {
		return nil, err
	}
	stable, _, err := o.Releases.Current(ctx, man.Name)
	if err != nil {
		return nil, err
	}
	known, err := ServingGateways(ctx, cfg, man.Name)
	if err != nil {
		return nil, err
	}
	plan, err := o.PlanCanary(man.Name, man.Version, stable, spec, known, rule)
	if err != nil {
		return nil, err
	}
	env, err := bridge.PublishModel(ctx, cfg, pkg, chunk, nil, bridge.WithReleaseKey(o.Priv), bridge.WithRelease(plan.Release))
	if err != nil {
		return nil, err
	}
	written, err := Written(env)
	if err != nil {
		return nil, err
	}
	if err := o.Commit(ctx, plan.Record, written); err != nil {
		return nil, fmt.Errorf("the canary release (counter %d) is out but the rollout record is not: %w; `edgepm model abort` cannot find it, push the version again or roll back with --key", written.Counter, err)
	}
	return plan.Record, nil
}

// StartShadow starts scoring version of name in shadow beside the served
// version on the gateways spec selects ("" = every gateway that serves
// name); version must already be on the models topic. It is `edgepm model
// shadow`. It blocks on Kafka.
func (o *Operator) StartShadow(ctx context.Context, cfg bridge.Config, name, version, spec string, rule Rule) (*Record, error) {
	if err := o.RefuseActive(ctx, name); err != nil {
		return nil, err
	}
	stable, _, err := o.Releases.Current(ctx, name)
	if err != nil {
		return nil, err
	}
	known, err := ServingGateways(ctx, cfg, name)
	if err != nil {
		return nil, err
	}
	plan, err := o.PlanShadow(name, version, stable, spec, known, rule)
	if err != nil {
		return nil, err
	}
	return o.Start(ctx, plan)
}
