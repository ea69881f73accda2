// Command loop (dev-only) is `make loop`: issue 21's closed loop, run
// unattended on a plant that changes, in a few minutes of wall time.
//
// It starts the dev stack (Mosquitto, kfake), two edgepm gateways (gw-1
// reads production line 1, gw-2 line 2), `edgepm fleet rollouts watch` and
// two firmware-sim processes, one per line, publishing their failures and
// repairs to edgepm.labels 12 h (simulated) late, as a CMMS would. The
// simulated plant runs a day every few seconds. Then, watching the
// simulated clock through the readings in Kafka:
//
//  1. At day 19 it trains the first model from Kafka (days 0-18) and
//     pushes it, signed, to both gateways: the champion.
//  2. At day 24 line 2 commissions 30 conveyors, a machine class with a
//     failure mode (belt wear) the champion never saw. The gateways' drift
//     events and heartbeats show the served features leave their training
//     distribution.
//  3. After day 48 it retrains from Kafka (days 0-38) and evaluates the
//     challenger against the champion on the same holdout (days 38-48),
//     and the champion alone on the days before the change (18-24): its
//     recall falls on the changed plant.
//  4. The challenger wins and goes to gw-2 as a shadow (edgepm-train
//     --push-shadow --auto); the rollout watcher promotes it when the
//     window ends, and both gateways serve it.
//
// Each step prints `edgepm fleet status`; the events topic holds the
// gateways' drift and model events and the central tools' model.trained,
// model.evaluated and rollout.* events. The figures go to
// DATA_DIR/loop.json with whether the retrained model's recall is at least
// 20 points above the stale model's on the holdout with precision no lower
// (target_met). The exit status is 0 when every step happened: the
// challenger won the evaluation and was promoted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	binDir       string
	dataDir      string
	accel        float64
	mqttAddr     string
	kafkaPort    int
	httpBase     int
	window       time.Duration
	minAgreement float64
	dropIn       string
	timeout      time.Duration
	seed         int64
}

func main() {
	var o options
	flag.StringVar(&o.binDir, "bin", "bin", "folder with the edgepm, edgepm-train and firmware-sim binaries")
	flag.StringVar(&o.dataDir, "data-dir", ".local/loop", "state, wiped at start: gateways' data dirs and configs, Kafka data, keys, packages, reports, logs")
	flag.Float64Var(&o.accel, "accel", 21600, "simulated seconds per real second (21600: a simulated day every 4 s)")
	flag.StringVar(&o.mqttAddr, "mqtt", "127.0.0.1:11893", "MQTT broker address (Mosquitto)")
	flag.IntVar(&o.kafkaPort, "kafka-port", 19093, "kfake broker port")
	flag.IntVar(&o.httpBase, "http-port", 19531, "status port of gw-1 (gw-2: the next one)")
	flag.DurationVar(&o.window, "window", 20*time.Second, "rollout rule window: how long the challenger scores in shadow before the watcher decides")
	flag.Float64Var(&o.minAgreement, "min-agreement", 0.8, "least alert agreement the shadow gateway must report for the promotion")
	flag.StringVar(&o.dropIn, "mosquitto-conf", "deploy/mosquitto/edgepm.conf", "the Mosquitto drop-in the broker runs with")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.Int64Var(&o.seed, "seed", 2, "line 1's firmware-sim seed (docs/models.md has the figures of seeds 1-5)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()
	err := run(ctx, o)
	fmt.Printf("loop: %.0f s\n", time.Since(start).Seconds())
	if err != nil {
		fmt.Fprintf(os.Stderr, "loop: %v\n", err)
		os.Exit(1)
	}
}
