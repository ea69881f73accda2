package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/edgepm/edgepm/bridge"
)

const decommissionUsage = `usage: edgepm decommission --gateway ID [--force] [kafka flags]
Removes a gateway from the fleet: writes a tombstone for its key on the gateways topic
(edgepm.gateways). Stop the gateway first: a running one writes its next heartbeat and is back.
Refuses when the topic has no heartbeat of ID, unless --force.
kafka flags: --config /etc/edgepm/edgepm.yaml (its kafka: section) and/or --brokers host:port,...
`

func cmdDecommission(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decommission", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), decommissionUsage); fs.PrintDefaults() }
	kf := addKafkaFlags(fs)
	gateway := fs.String("gateway", "", "gateway id to remove (its gateway_id)")
	force := fs.Bool("force", false, "write the tombstone even when the topic has no heartbeat of the gateway")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *gateway == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edgepm decommission: --gateway ID is required (and nothing else)\n%s", decommissionUsage)
		return 2
	}
	cfg, err := kf.kafka()
	if err != nil {
		return failModel(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *kf.timeout)
	defer cancel()
	last, err := bridge.Decommission(ctx, cfg, *gateway, *force, nil)
	if errors.Is(err, bridge.ErrNoHeartbeat) {
		fmt.Fprintf(stderr, "edgepm: %v\nedgepm: check the id (and --config's kafka.topic_prefix), or pass --force to write the tombstone anyway\n", err)
		return 1
	}
	if err != nil {
		return failModel(stderr, err)
	}
	if last != nil {
		fmt.Fprintf(stdout, "gateway %s decommissioned (last heartbeat %s, version %s)\n", *gateway,
			last.TS.Format(time.RFC3339), dashIfEmpty(last.Version))
		return 0
	}
	fmt.Fprintf(stdout, "gateway %s decommissioned (tombstone written; it had no heartbeat)\n", *gateway)
	return 0
}
