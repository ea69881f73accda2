// Command firmware-sim simulates a plant of machines (or replays NASA
// C-MAPSS data) and publishes their sensor readings over MQTT, or to stdout,
// with optional ground truth and fault injection. "firmware-sim score"
// scores edgepm's alerts against the ground truth. See docs/firmware-sim.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, errUsage) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "firmware-sim:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run dispatches to the subcommands: "score", or publishing (the default).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "score" {
		return runScore(ctx, args[1:], stdout, stderr)
	}
	return runPublish(ctx, args, stdout, stderr)
}
