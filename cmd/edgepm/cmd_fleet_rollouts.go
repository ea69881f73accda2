package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgepm/edgepm/fleet/rollout"
)

const fleetRolloutsUsage = `usage:
  edgepm fleet rollouts watch --key KEYFILE [kafka flags] [--group edgepm-fleet-rollouts] [--tick 2s] [--lookback 24h]
  edgepm fleet rollouts list [--public-key KEY.pub] [kafka flags] [--json]
watch applies the automatic rule of the rollouts started with --auto (docs/operations.md, "Staged rollout");
several watchers with the same --group share the rollouts.
`

// cmdFleetRollouts is `edgepm fleet rollouts ...`; the fleet command's
// dispatcher (cmd_fleet.go) hands it "rollouts" and what follows.
func cmdFleetRollouts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, fleetRolloutsUsage)
		return 2
	}
	switch args[0] {
	case "watch":
		return cmdRolloutsWatch(ctx, args[1:], stdout, stderr)
	case "list":
		return cmdRolloutsList(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, fleetRolloutsUsage)
		return 0
	}
	fmt.Fprintf(stderr, "edgepm fleet rollouts: unknown command %q\n%s", args[0], fleetRolloutsUsage)
	return 2
}

func cmdRolloutsWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleet rollouts watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addSignFlags(fs)
	group := fs.String("group", rollout.DefaultGroup, "Kafka consumer group: watchers in one group share the rollouts")
	tick := fs.Duration("tick", 2*time.Second, "how often the rule is applied")
	lookback := fs.Duration("lookback", 24*time.Hour, "how far back the events and gateways topics are read at start")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *sf.key == "" {
		fmt.Fprint(stderr, errNoKey("fleet rollouts watch"))
		return 2
	}
	if *tick <= 0 || *lookback <= 0 {
		fmt.Fprintf(stderr, "edgepm fleet rollouts watch: --tick and --lookback must be > 0\n")
		return 2
	}
	op, cfg, err := sf.operator()
	if err != nil {
		return failModel(stderr, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	op.Store = rollout.NewStore(cfg, op.Store.Keys(), log)
	op.Releases = rollout.BridgeReleases{Kafka: cfg, Log: log}
	r := rollout.NewRunner(rollout.RunnerConfig{Kafka: cfg, Group: *group, Tick: *tick, Lookback: *lookback}, op, log)
	log.Info("watching rollouts", "topic", op.Store.Topic(), "group", *group, "key_id", op.KeyID())
	if err := r.Run(ctx); err != nil {
		return failModel(stderr, err)
	}
	return 0
}

func cmdRolloutsList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleet rollouts list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kf := addKafkaFlags(fs)
	pubPath := fs.String("public-key", "", "public key (a .pub file or its base64) that signs the records, besides --config's inference.public_keys")
	asJSON := fs.Bool("json", false, "print the records as JSON")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg, err := kf.kafka()
	if err != nil {
		return failModel(stderr, err)
	}
	keys, err := listKeys(*kf.config, *pubPath)
	if err != nil {
		return failModel(stderr, err)
	}
	if len(keys) == 0 {
		fmt.Fprint(stderr, "edgepm fleet rollouts list: no key to verify the records with: --public-key or --config with inference.public_keys\n")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *kf.timeout)
	defer cancel()
	all, err := rollout.NewStore(cfg, keys, nil).All(ctx)
	if err != nil {
		return failModel(stderr, err)
	}
	recs := make([]*rollout.Record, 0, len(all))
	for _, r := range all {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *rollout.Record) int { return strings.Compare(a.Name, b.Name) })
	if *asJSON {
		return printModelJSON(stdout, stderr, recs)
	}
	return printRolloutTable(stdout, stderr, recs)
}

func printRolloutTable(stdout, stderr io.Writer, recs []*rollout.Record) int {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tVERSION\tSTABLE\tGATEWAYS\tRULE\tSINCE\tREASON")
	for _, r := range recs {
		rule := "manual"
		if r.Rule.Enabled {
			rule = "auto " + r.Rule.Window().String()
		}
		last := r.History[len(r.History)-1]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.State, r.Version, r.Stable,
			dashIfEmpty(strings.Join(r.Gateways, ",")), rule, last.At.Format(time.RFC3339), dashIfEmpty(last.Reason))
	}
	if err := tw.Flush(); err != nil {
		return failModel(stderr, err)
	}
	return 0
}

func listKeys(config, pub string) ([]ed25519.PublicKey, error) {
	keys, err := configKeys(config)
	if err != nil || pub == "" {
		return keys, err
	}
	b, err := os.ReadFile(pub)
	if err != nil {
		b = []byte(pub)
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("--public-key %s: not a public key file or base64 of %d bytes", pub, ed25519.PublicKeySize)
	}
	return append(keys, k), nil
}
