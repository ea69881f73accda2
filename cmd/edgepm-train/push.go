package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	Canary string // N, P% or ids and globs; "" = no push
	Key    string // model-signing private key file (edgepm keygen)
	Auto   bool
	Window time.Duration
	Chunk  int
}

// errPushNoKey is the usage error of --push-canary without --key.
var errPushNoKey = errors.New("--push-canary needs --key KEYFILE: gateways act only on releases signed with the model-signing key (edgepm keygen)")

func (po *pushOptions) register() {
	flag.StringVar(&po.Canary, "push-canary", "", "--evaluate: when the challenger wins, push it as a canary to these gateways (N, P% or ids and globs) on the --from-kafka cluster; never to every gateway")
	flag.StringVar(&po.Key, "key", "", "--push-canary: model-signing private key file from `edgepm keygen` (required)")
	flag.BoolVar(&po.Auto, "auto", false, "--push-canary: let `edgepm fleet rollouts watch` promote or abort by the rule")
	flag.DurationVar(&po.Window, "window", 10*time.Minute, "--push-canary: how long the rule watches the canary before promoting")
	po.Chunk = bridge.DefaultChunkSize
}

// check is the usage check of the push flags, before any evaluation.
func (po pushOptions) check() error {
	switch {
	case po.Canary == "":
		return nil
	case po.Key == "":
		return errPushNoKey
	case po.Window <= 0:
		return fmt.Errorf("--window must be > 0, got %s", po.Window)
	}
	return nil
}

// pushWinner pushes the challenger as a canary when rep says it won, and
// writes what it did to w. A loser or an invalid challenger is never
// pushed.
func pushWinner(ctx context.Context, ko kafkaOptions, eo evalOptions, po pushOptions, rep *ev.Report, w io.Writer) error {
	if po.Canary == "" {
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
	rec, err := op.PushCanary(ctx, cfg, pkg, po.Canary, po.Chunk, rollout.Rule{Enabled: po.Auto, WindowSeconds: po.Window.Seconds()})
	if err != nil {
		return fmt.Errorf("--push-canary: %w", err)
	}
	fmt.Fprintf(w, "edgepm-train: pushed: rollout %s: %s %s:%s (stable %s, release counter %d) on %s\n",
		rec.ID, rec.State, rec.Name, rec.Version, rec.Stable, rec.Counter, strings.Join(rec.Gateways, ","))
	return nil
}

// operator is the rollout operator on the --from-kafka cluster with the
// signing key of --key.
func (po pushOptions) operator(ko kafkaOptions) (*rollout.Operator, bridge.Config, error) {
	cfg := bridge.Config{Brokers: strings.Split(ko.Brokers, ","), GatewayID: "edgepm-train"}
	if err := cfg.Validate(); err != nil {
		return nil, cfg, fmt.Errorf("--from-kafka: %w", err)
	}
	priv, err := readKey(po.Key)
	if err != nil {
		return nil, cfg, err
	}
	keys := []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}
	return &rollout.Operator{Store: rollout.NewStore(cfg, keys, nil), Releases: rollout.BridgeReleases{Kafka: cfg}, Priv: priv}, cfg, nil
}

// readKey reads a private key file written by edgepm keygen.
func readKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	priv, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("--key %s: not an edgepm keygen private key (base64 of %d bytes)", path, ed25519.PrivateKeySize)
	}
	return ed25519.PrivateKey(priv), nil
}
