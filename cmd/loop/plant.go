package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The plant and its timeline, in simulated time after simStart.
var simStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	day = 24 * time.Hour
	// interval is the simulated time between two readings of a machine: a
	// model window of 30 readings spans 2.5 h.
	interval = 5 * time.Minute
	// labelsLag: work orders reach edgepm.labels this late.
	labelsLag = 12 * time.Hour
	// settled is how far past a range's end (plus labelsLag) the readings
	// must be before the range is read, so every gateway has delivered it.
	settled = 6 * time.Hour

	championTo = 18 * day // the champion trains on [0, championTo)
	changeAt   = 24 * day // line 2 commissions the conveyors
	retrainTo  = 38 * day // the challenger trains on the log before: [0, retrainTo)
	holdoutTo  = 48 * day // both are scored on [retrainTo, holdoutTo)
	// posWeight is edgepm-train's -pos-weight for both models: failure rows
	// count twice, not four times (the default model's), so that alerts
	// stay precise on a plant with a failure mode the training saw less of.
	posWeight = "2"
)

// retrainArgs are the challenger's extra edgepm-train flags: more capacity
// (64 hidden units, the champion has 16) for a plant with more failure
// signatures, and a higher alert threshold (0.9, the champion's is 0.8), so
// that its alerts are at least as precise as the champion's while its
// recall still gains (docs/models.md, "Closing the loop").
var retrainArgs = []string{"-hidden", "64", "-raise", "0.9"}

// lines are the production lines: one firmware-sim and one gateway each.
// Line 1 has 24 machines; line 2 starts with 6 and commissions 30 conveyors
// at changeAt. Machines wear out in days rather than weeks (mean onset
// 4 d, mean degradation 2 d), so a few simulated weeks hold hundreds of
// failures. Line 1's seed is --seed, line 2's 2.
var lines = []struct {
	gateway, line, args string
}{
	{"gw-1", "line1", "--machines 24 --classes pump,motor,fan --first-machine 0"},
	{"gw-2", "line2", "--machines 6 --classes pump,motor,fan --first-machine 100 --seed 2" +
		fmt.Sprintf(" --add-at %s --add-machines 30 --add-classes conveyor", changeAt)},
}

func simArgs(o options, mqttURL, kafka string, i int) []string {
	args := strings.Fields(lines[i].args)
	if !slices.Contains(args, "--seed") {
		args = append(args, "--seed", fmt.Sprint(o.seed))
	}
	return append(args, "--broker", mqttURL, "--client-id", "firmware-sim-"+lines[i].line, "--qos", "1",
		"--line", lines[i].line, "--interval", interval.String(), "--accel", fmt.Sprint(o.accel),
		"--start", simStart.Format(time.RFC3339), "--mean-onset", "96h", "--mean-degradation", "48h",
		"--repair-time", "8h", "--labels-to-kafka", kafka, "--labels-lag", labelsLag.String(), "--progress", "10s")
}

const gatewayConfig = `# written by make loop (cmd/loop); see docs/configuration.md
gateway_id: %[1]s
data_dir: %[2]s
log_level: info
shutdown_timeout: 15s
http:
  listen: %[3]s
mqtt:
  broker: %[4]s
  client_id: edgepm-%[1]s
  subscriptions:
    - topic: plant/site1/%[5]s/{device}/telemetry
kafka:
  brokers: [%[6]s]
  create_topics: true
fleet:
  heartbeat_interval: 2s
inference:
  public_keys: [%[7]s]
  # a drift report every 3 s of wall time: about 18 simulated hours
  drift_interval: 3s
validation:
  # the simulated clock runs ahead of the wall clock (--accel)
  max_clock_skew: -1s
  max_future_skew: -1s
`

// writeGatewayConfig writes gateway i's config and returns its path and
// status address.
func writeGatewayConfig(o options, dir, mqttURL, kafka, pub string, i int) (string, string, error) {
	id := lines[i].gateway
	gdir := filepath.Join(dir, id)
	if err := os.MkdirAll(gdir, 0o755); err != nil {
		return "", "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", o.httpBase+i)
	cfg := fmt.Sprintf(gatewayConfig, id, filepath.Join(gdir, "data"), addr, mqttURL, lines[i].line, kafka, pub)
	path := filepath.Join(gdir, "edgepm.yaml")
	return path, addr, os.WriteFile(path, []byte(cfg), 0o644)
}

// at is simStart + d as RFC 3339, for --from and --to.
func at(d time.Duration) string { return simStart.Add(d).Format(time.RFC3339) }

// days formats d in simulated days.
func days(d time.Duration) string { return fmt.Sprintf("day %.1f", d.Hours()/24) }
