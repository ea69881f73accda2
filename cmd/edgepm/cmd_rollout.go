package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/edge"
	"github.com/edgepm/edgepm/fleet/rollout"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// signFlags are the flags of the commands that sign a release and a
// rollout record: the Kafka flags and --key.
type signFlags struct {
	kafkaFlags
	key *string
}

func addSignFlags(fs *flag.FlagSet) signFlags {
	return signFlags{kafkaFlags: addKafkaFlags(fs),
		key: fs.String("key", "", "model-signing private key file from `edgepm keygen` (required: the release and the rollout record are signed)")}
}

// errNoKey is the usage error of a signing command run without --key.
func errNoKey(cmd string) string {
	return fmt.Sprintf("edgepm %s: --key KEYFILE is required: gateways act only on releases signed with the model-signing key (edgepm keygen)\n", cmd)
}

// operator builds the rollout operator: Kafka from --config/--brokers, the
// signing key from --key, and the keys that verify rollout records (the
// key's own public key and --config's inference.public_keys).
func (f signFlags) operator() (*rollout.Operator, bridge.Config, error) {
	cfg, err := f.kafka()
	if err != nil {
		return nil, cfg, err
	}
	priv, err := modelpkg.ReadPrivateKey(*f.key)
	if err != nil {
		return nil, cfg, err
	}
	keys, err := configKeys(*f.config)
	if err != nil {
		return nil, cfg, err
	}
	keys = append(keys, priv.Public().(ed25519.PublicKey))
	return &rollout.Operator{Store: rollout.NewStore(cfg, keys, nil), Releases: rollout.BridgeReleases{Kafka: cfg},
		Priv: priv}, cfg, nil
}

// configKeys are the inference.public_keys of the config file ("" = none).
func configKeys(path string) ([]ed25519.PublicKey, error) {
	if path == "" {
		return nil, nil
	}
	c, err := edge.Load(path)
	if err != nil {
		return nil, err
	}
	var keys []ed25519.PublicKey
	for i, s := range c.Inference.PublicKeys {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("inference.public_keys[%d]: not base64 of %d bytes", i, ed25519.PublicKeySize)
		}
		keys = append(keys, b)
	}
	return keys, nil
}

// ruleFlags are the automatic rule's flags of push --canary and shadow.
type ruleFlags struct {
	auto     *bool
	window   *time.Duration
	minAgree *float64
}

func addRuleFlags(fs *flag.FlagSet) ruleFlags {
	return ruleFlags{
		auto:     fs.Bool("auto", false, "let `edgepm fleet rollouts watch` promote or abort by the rule"),
		window:   fs.Duration("window", 10*time.Minute, "how long the rule watches the canary before promoting"),
		minAgree: fs.Float64("min-agreement", -1, "shadow rollouts: least alert agreement (0..1) each gateway must report (default: not checked)"),
	}
}

func (r ruleFlags) rule() (rollout.Rule, error) {
	if *r.window <= 0 {
		return rollout.Rule{}, fmt.Errorf("--window must be > 0, got %s", *r.window)
	}
	rule := rollout.Rule{Enabled: *r.auto, WindowSeconds: r.window.Seconds()}
	switch m := *r.minAgree; {
	case m == -1:
	case m < 0 || m > 1:
		return rule, fmt.Errorf("--min-agreement must be within 0..1, got %v", m)
	default:
		rule.MinAgreement = &m
	}
	return rule, nil
}

// canaryPush is `model push --canary`: the package with a canary release,
// then the rollout record.
func canaryPush(ctx context.Context, sf signFlags, rf ruleFlags, pkg *modelpkg.Package, spec string, chunk int, stdout io.Writer) error {
	rule, err := rf.rule()
	if err != nil {
		return err
	}
	op, cfg, err := sf.operator()
	if err != nil {
		return err
	}
	rec, err := op.PushCanary(ctx, cfg, pkg, spec, chunk, rule)
	if err != nil {
		return err
	}
	printRollout(stdout, rec)
	return nil
}

func printRollout(w io.Writer, r *rollout.Record) {
	fmt.Fprintf(w, "rollout %s: %s %s:%s (stable %s, release counter %d)", r.ID, r.State, r.Name, r.Version, r.Stable, r.Counter)
	if len(r.Gateways) > 0 {
		fmt.Fprintf(w, " on %s", strings.Join(r.Gateways, ","))
	}
	if r.Rule.Enabled {
		fmt.Fprintf(w, "; rule: watch %s", r.Rule.Window())
	}
	fmt.Fprintln(w)
}
