// Command demo (dev-only) is `make run`: it starts the dev stack (an MQTT
// broker: Mosquitto configured with deploy/mosquitto/edgepm.conf, as a
// gateway's is, when it is installed, else an embedded one; a kfake
// Kafka-protocol broker), the edgepm appliance and the firmware-sim plant
// as child processes, and shows a live view of machines, health scores,
// alerts, buffer depth, uplink state, model and rates, plus what has
// arrived in Kafka. Ctrl-C stops everything in order: simulator, appliance
// (once it has committed what it received; SIGTERM, ordered drain),
// brokers. The closing line accounts for every reading the simulator sent:
// delivered to Kafka, still in the buffer, dropped before the appliance
// (devices' seq gaps), or unaccounted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgepm/edgepm/internal/devstack"
)

type options struct {
	binDir    string
	dataDir   string
	machines  int
	accel     float64
	interval  time.Duration
	duration  time.Duration
	httpAddr  string
	plain     bool
	mqttAddr  string
	kafkaPort int
	broker    string
	dropIn    string
}

func main() {
	var o options
	flag.StringVar(&o.binDir, "bin", "bin", "folder with the edgepm and firmware-sim binaries")
	flag.StringVar(&o.dataDir, "data-dir", ".local/demo", "demo state, wiped at start: the appliance's data_dir (buffer.db, models), its config, Kafka data, logs")
	flag.IntVar(&o.machines, "machines", 12, "simulated machines")
	flag.Float64Var(&o.accel, "accel", 240, "simulated seconds per real second")
	flag.DurationVar(&o.interval, "interval", time.Second, "simulated time between a machine's readings (the default model was trained at 1s)")
	flag.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until Ctrl-C); exit 1 if no prediction reached Kafka")
	flag.StringVar(&o.httpAddr, "http", "127.0.0.1:19510", "appliance status/metrics address")
	flag.BoolVar(&o.plain, "plain", false, "print status lines instead of redrawing the screen")
	flag.StringVar(&o.mqttAddr, "mqtt", devstack.DefaultMQTTAddr, "MQTT broker address")
	flag.StringVar(&o.broker, "broker", "auto", "MQTT broker: mosquitto (with --mosquitto-conf), embedded, or auto (mosquitto when installed)")
	flag.StringVar(&o.dropIn, "mosquitto-conf", "deploy/mosquitto/edgepm.conf", "the Mosquitto drop-in the demo's Mosquitto runs with")
	flag.IntVar(&o.kafkaPort, "kafka-port", devstack.DefaultKafkaPort, "kfake broker port")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	for _, b := range []string{"edgepm", "firmware-sim"} {
		if _, err := os.Stat(filepath.Join(o.binDir, b)); err != nil {
			return fmt.Errorf("%s not built (run `make build`): %w", b, err)
		}
	}
	_ = os.RemoveAll(o.dataDir)
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	so := devstack.Options{MQTTAddr: o.mqttAddr, KafkaPort: o.kafkaPort, DataDir: filepath.Join(dataDir, "kafka")}
	what, err := o.brokerOptions(&so)
	if err != nil {
		return err
	}
	fmt.Printf("demo: starting MQTT broker %s (%s) and Kafka-protocol broker on port %d\n", o.mqttAddr, what, o.kafkaPort)
	stack, err := devstack.Start(ctx, so)
	if err != nil {
		return fmt.Errorf("%w (another demo or devstack running? stop it, or pick other ports with --mqtt and --kafka-port)", err)
	}
	defer stack.Close()

	kc, err := newKafkaWatch(stack.KafkaSeeds)
	if err != nil {
		return err
	}
	defer kc.close()
	// Its own context: it keeps counting what the appliance delivers after
	// ctx ends (the closing line's drain), until run returns.
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go kc.run(wctx)

	procs, err := startChildren(o, dataDir, stack)
	if err != nil {
		return err
	}
	fmt.Printf("demo: status page http://%s/ ; from a terminal: %s status --addr %s\n",
		o.httpAddr, filepath.Join(o.binDir, "edgepm"), o.httpAddr)
	fmt.Printf("demo: buffer, config and logs in %s (after Ctrl-C: %s buffer inspect --data-dir %s); Ctrl-C stops\n",
		o.dataDir, filepath.Join(o.binDir, "edgepm"), o.dataDir)
	view := newView(o, kc)
	view.loop(ctx)
	acc := settle(procs, view, kc)
	fmt.Printf("\ndemo: stopped. Kafka received %d readings, %d predictions, %d alerts.\n",
		kc.count("readings"), kc.count("predictions"), kc.count("alerts"))
	fmt.Printf("demo: %s\n", acc)
	if o.duration > 0 && kc.count("predictions") == 0 {
		return fmt.Errorf("no prediction reached Kafka within %s", o.duration)
	}
	return nil
}

// brokerOptions sets the broker of the dev stack from --broker and says
// which it is.
func (o options) brokerOptions(so *devstack.Options) (string, error) {
	bin := devstack.MosquittoBin()
	switch {
	case o.broker == "embedded" || (o.broker == "auto" && bin == ""):
		return "embedded broker; install mosquitto to run the gateway's broker configuration", nil
	case o.broker != "mosquitto" && o.broker != "auto":
		return "", fmt.Errorf("--broker %q: want mosquitto, embedded or auto", o.broker)
	case bin == "":
		return "", fmt.Errorf("--broker mosquitto: mosquitto is not installed (make mosquitto)")
	}
	if _, err := os.Stat(o.dropIn); err != nil {
		return "", fmt.Errorf("--mosquitto-conf: %w", err)
	}
	so.Mosquitto, so.MosquittoDropIn = bin, o.dropIn
	return "Mosquitto with " + o.dropIn, nil
}

// settle stops the simulator, lets the appliance commit and deliver what
// it received, stops it, and accounts for the readings sent.
func settle(procs *children, v *view, kc *kafkaWatch) account {
	procs.stopSim()
	st, _ := v.drained(15 * time.Second)
	var acc account
	acc.committed = int64(v.committed())
	if st != nil {
		acc.buffered = readingsBuffered(st)
		acc.missing = st.Ingest.SeqMissing
		acc.brokerDrops = st.Ingest.BrokerDropped
	}
	procs.stop()
	kc.settle(int(acc.committed-acc.buffered), 15*time.Second)
	acc.delivered = int64(kc.distinctReadings())
	acc.deadLetters = int64(kc.count("deadletter"))
	var err error
	if acc.sent, err = simSent(procs.simLog); err != nil {
		fmt.Fprintf(os.Stderr, "demo: readings sent unknown: %v\n", err)
	}
	return acc
}
