package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/fleet/rollout"
	"github.com/edgepm/edgepm/inference/modelpkg"
	ev "github.com/edgepm/edgepm/internal/evaluate"
)

// pushOptions are the flags that ship a winning challenger through the
// staged rollout (docs/models.md, "Champion and challenger").
type pushOptions struct {
	Canary       string // N, P% or ids and globs; "" = no canary push
	Shadow       bool   // push as a shadow beside the served version
	On           string // --push-shadow: N, P% or ids and globs; "" = every gateway serving the model
	MinAgreement float64
	Key          string // model-signing private key file (edgepm keygen)
	Auto         bool
	Window       time.Duration
	Chunk        int
}

// errPushNoKey is the usage error of --push-canary or --push-shadow without --key.
var errPushNoKey = errors.New("--push-canary and --push-shadow need --key KEYFILE: gateways act only on releases signed with the model-signing key (edgepm keygen)")

func (po *pushOptions) register() {
	flag.StringVar(&po.Canary, "push-canary", "", "--evaluate: when the challenger wins, push it as a canary to these gateways (N, P% or ids and globs) on the --from-kafka cluster; never to every gateway")
	flag.BoolVar(&po.Shadow, "push-shadow", false, "--evaluate: when the challenger wins, publish it and have the gateways (--on) score it in shadow beside the served model")
	flag.StringVar(&po.On, "on", "", "--push-shadow: the gateways that score the shadow (N, P% or ids and globs); empty = every gateway serving the model")
	flag.Float64Var(&po.MinAgreement, "min-agreement", 0, "--push-shadow --auto: least alert agreement (0..1) each shadow gateway must report for the rule to promote; 0 = not checked")
	flag.StringVar(&po.Key, "key", "", "--push-canary/--push-shadow: model-signing private key file from `edgepm keygen` (required)")
	flag.BoolVar(&po.Auto, "auto", false, "--push-canary/--push-shadow: let `edgepm fleet rollouts watch` promote or abort by the rule")
	flag.DurationVar(&po.Window, "window", 10*time.Minute, "--push-canary/--push-shadow: how long the rule watches before promoting")
	po.Chunk = bridge.DefaultChunkSize
}

// check is the usage check of the push flags, before any evaluation.
func (po pushOptions) check() error {
	switch {
	case po.Canary == "" && !po.Shadow:
		return nil
	case po.Canary != "" && po.Shadow:
		return errors.New("--push-canary and --push-shadow: choose one")
	case po.Key == "":
		return errPushNoKey
	case po.Window <= 0:
		return fmt.Errorf("--window must be > 0, got %s", po.Window)
	case po.MinAgreement < 0 || po.MinAgreement > 1:
		return fmt.Errorf("--min-agreement must be within 0..1, got %g", po.MinAgreement)
	case po.MinAgreement > 0 && !po.Shadow:
		return errors.New("--min-agreement applies to --push-shadow only (a canary runs no shadow comparison)")
	}
	return nil
}

// pushWinner pushes the challenger as a canary or a shadow when rep says
// it won, and writes what it did to w. A loser or an invalid challenger is
// never pushed.
func pushWinner(ctx context.Context, ko kafkaOptions, eo evalOptions, po pushOptions, rep *ev.Report, w io.Writer) error {
	if po.Canary == "" && !po.Shadow {
		return nil
	}
	if rep.Decision.Winner != ev.WinnerChallenger {
		fmt.Fprintf(w, "edgepm-train: not pushed: %s\n", rep.Decision.Reason)
		return nil
	}
	op, cfg, err := po.operator(ko)
	if err != nil {
		return err
	}
	pkg, err := modelpkg.LoadPackageDir(eo.Challenger)
	if err != nil {
		return fmt.Errorf("--challenger %s: %w", eo.Challenger, err)
	}
	if err := modelpkg.Sign(pkg, op.Priv); err != nil {
		return fmt.Errorf("--key %s: %w", po.Key, err)
	}
	rule := rollout.Rule{Enabled: po.Auto, WindowSeconds: po.Window.Seconds()}
	var rec *rollout.Record
	if po.Shadow {
		rec, err = pushShadow(ctx, op, cfg, pkg, po, rule)
	} else if rec, err = op.PushCanary(ctx, cfg, pkg, po.Canary, po.Chunk, rule); err != nil {
		err = fmt.Errorf("--push-canary: %w", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "edgepm-train: pushed: rollout %s: %s %s:%s (stable %s, release counter %d) on %s\n",
		rec.ID, rec.State, rec.Name, rec.Version, rec.Stable, rec.Counter, strings.Join(rec.Gateways, ","))
	return nil
}

// pushShadow publishes pkg without moving the pointer, then starts a
// shadow rollout of it beside the served version (as `edgepm model push`
// and `edgepm model shadow` would).
func pushShadow(ctx context.Context, op *rollout.Operator, cfg bridge.Config, pkg *modelpkg.Package, po pushOptions, rule rollout.Rule) (*rollout.Record, error) {
	man, err := pkg.Decode()
	if err != nil {
		return nil, fmt.Errorf("--challenger: %w", err)
	}
	if err := op.RefuseActive(ctx, man.Name); err != nil {
		return nil, fmt.Errorf("--push-shadow: %w", err)
	}
	if po.MinAgreement > 0 {
		rule.MinAgreement = &po.MinAgreement
	}
	if _, err := bridge.PublishModel(ctx, cfg, pkg, po.Chunk, nil, bridge.WithoutPointer()); err != nil {
		return nil, fmt.Errorf("--push-shadow: %w", err)
	}
	rec, err := op.StartShadow(ctx, cfg, man.Name, man.Version, po.On, rule)
	if err != nil {
		return nil, fmt.Errorf("--push-shadow: %w", err)
	}
	return rec, nil
}

// operator is the rollout operator on the --from-kafka cluster with the
// signing key of --key.
func (po pushOptions) operator(ko kafkaOptions) (*rollout.Operator, bridge.Config, error) {
	cfg := bridge.Config{Brokers: strings.Split(ko.Brokers, ","), GatewayID: "edgepm-train"}
	if err := cfg.Validate(); err != nil {
		return nil, cfg, fmt.Errorf("--from-kafka: %w", err)
	}
	priv, err := modelpkg.ReadPrivateKey(po.Key)
	if err != nil {
		return nil, cfg, fmt.Errorf("--key: %w", err)
	}
	keys := []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}
	return &rollout.Operator{Store: rollout.NewStore(cfg, keys, nil), Releases: rollout.BridgeReleases{Kafka: cfg}, Priv: priv}, cfg, nil
}
