package rollout

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"

	"github.com/edgepm/edgepm/bridge"
)

// BridgeReleases is Releases on the models topic of Kafka.
type BridgeReleases struct {
	Kafka bridge.Config
	Log   *slog.Logger
}

// Current implements Releases: the version gateways outside any canary
// serve (the release's stable under a canary), from name's pointer.
func (b BridgeReleases) Current(ctx context.Context, name string) (string, *bridge.Release, error) {
	infos, err := bridge.ListModels(ctx, b.Kafka, b.Log)
	if err != nil {
		return "", nil, err
	}
	for _, mi := range infos {
		if mi.Name != name || mi.Current == nil {
			continue
		}
		if rel := mi.Release; rel != nil {
			if rel.Canary != nil {
				return rel.Stable, rel, nil
			}
			return rel.Version, rel, nil
		}
		return mi.Current.Version, nil, nil
	}
	return "", nil, nil
}

// Publish implements Releases with bridge.PublishRelease (a rollback with
// bridge.RollbackModel, which marks the pointer rolled back).
func (b BridgeReleases) Publish(ctx context.Context, rel *bridge.Release, priv ed25519.PrivateKey) (*bridge.Release, error) {
	var env *bridge.ModelEnvelope
	var err error
	if rel.Action == bridge.ActionRollback {
		env, err = bridge.RollbackModel(ctx, b.Kafka, rel.Name, rel.Version, b.Log, bridge.WithReleaseKey(priv), bridge.WithRelease(rel))
	} else {
		env, err = bridge.PublishRelease(ctx, b.Kafka, rel, priv, b.Log)
	}
	if err != nil {
		return nil, err
	}
	return Written(env)
}

// Written is the release a pointer just published carries.
func Written(env *bridge.ModelEnvelope) (*bridge.Release, error) {
	rel, err := bridge.DecodeRelease(env.Release)
	if err != nil {
		return nil, fmt.Errorf("the pointer just written for %s: %w", env.ID(), err)
	}
	return rel, nil
}
