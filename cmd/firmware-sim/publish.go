package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
)

// publishFlags are the flags of the default (publishing) command.
type publishFlags struct {
	broker, clientID, username, password string
	machines, firstMachine, addMachines  int
	addAt                                time.Duration
	addClasses                           string
	classes, site, line, topic           string
	seed                                 int64
	rate, accel                          float64
	interval, duration, progress         time.Duration
	meanOnset, meanDegradation           time.Duration
	repairTime                           time.Duration
	start                                string
	qos                                  uint
	format                               string
	batchSize, window                    int
	count                                int64
	truthFile, truthTopic                string
	labelsBrokers, labelsTopic           string
	labelsLag                            time.Duration
	labeler                              *sim.Labeler // built by publisher when --labels-to-kafka is set
	replay, replayRUL                    string
	stdout, stdoutTopics, quiet          bool
	faults                               map[sim.FaultKind]*float64
	faultSeed                            uint64
	oversize, burst, stuck, storm        int
}

func (f *publishFlags) register(fs *flagSet) {
	fs.StringVar(&f.broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	fs.StringVar(&f.clientID, "client-id", "", "MQTT client id (default firmware-sim-<pid>)")
	fs.StringVar(&f.username, "username", "", "MQTT username")
	fs.StringVar(&f.password, "password", "", "MQTT password (or $FIRMWARE_SIM_PASSWORD)")
	fs.UintVar(&f.qos, "qos", 0, "MQTT QoS: 0 or 1")
	fs.IntVar(&f.window, "window", 0, "max publishes awaiting completion (default 10000 at QoS 0, 1000 at QoS 1)")
	fs.IntVar(&f.machines, "machines", sim.DefaultMachines, "number of simulated machines")
	fs.StringVar(&f.classes, "classes", strings.Join(sim.DefaultClasses, ","), "machine classes, assigned round-robin: "+strings.Join(sim.Classes(), ","))
	fs.IntVar(&f.firstMachine, "first-machine", 0, "index of the first machine: device ids and random streams start there (give each line its own range)")
	fs.IntVar(&f.addMachines, "add-machines", 0, "machines commissioned new at --add-at, numbered after the initial ones (0 = none)")
	fs.DurationVar(&f.addAt, "add-at", 0, "simulated time after the start at which the --add-machines machines are commissioned")
	fs.StringVar(&f.addClasses, "add-classes", "", "classes of the added machines, assigned round-robin (default: --classes)")
	fs.StringVar(&f.site, "site", sim.DefaultSite, "site name for the topic")
	fs.StringVar(&f.line, "line", sim.DefaultLine, "line name for the topic")
	fs.StringVar(&f.topic, "topic-template", sim.DefaultTopicTemplate, "telemetry topic; {site} {line} {device} {class} are replaced")
	fs.Int64Var(&f.seed, "seed", 1, "random seed: same seed and flags, same readings")
	fs.Float64Var(&f.rate, "rate", -1, "target aggregate messages/s; 0 = unlimited; -1 = machines in service x accel / interval")
	fs.DurationVar(&f.interval, "interval", sim.DefaultInterval, "simulated time between readings of a machine (replay: per cycle)")
	fs.Float64Var(&f.accel, "accel", 1, "simulated seconds per real second (86400 = a day per second)")
	fs.DurationVar(&f.meanOnset, "mean-onset", sim.DefaultMeanTimeToOnset, "mean simulated time from (re)start to the onset of degradation")
	fs.DurationVar(&f.meanDegradation, "mean-degradation", sim.DefaultMeanDegradation, "mean simulated time from onset to failure")
	fs.DurationVar(&f.repairTime, "repair-time", sim.DefaultRepairTime, "simulated time a failed machine is down before it is repaired")
	fs.StringVar(&f.start, "start", "", "simulated start time, RFC 3339 (default: 2025-01-01T00:00:00Z with --stdout, else now)")
	fs.StringVar(&f.format, "format", sim.FormatObject, "payload format: "+strings.Join(sim.FormatNames(), ", "))
	fs.IntVar(&f.batchSize, "batch-size", 10, "readings per message with --format batch")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this much real time (0 = no limit)")
	fs.Int64Var(&f.count, "count", 0, "stop after this many messages (0 = no limit)")
	fs.StringVar(&f.truthFile, "truth-file", "", "write ground truth JSON lines to this file")
	fs.StringVar(&f.truthTopic, "truth-topic", "", "publish ground truth lines to this topic template, e.g. plant/{site}/{line}/{device}/truth")
	fs.StringVar(&f.labelsBrokers, "labels-to-kafka", "", "publish the ground truth's failures and repairs as edgepm.labels records to these Kafka brokers (host:port,...)")
	fs.StringVar(&f.labelsTopic, "labels-topic", "edgepm.labels", "Kafka topic of --labels-to-kafka")
	fs.DurationVar(&f.labelsLag, "labels-lag", 24*time.Hour, "simulated time between a failure or repair and its label being published (work orders are filed late)")
	fs.StringVar(&f.replay, "replay-cmapss", "", "replay a NASA C-MAPSS file (train_FD001.txt or test_FD001.txt) instead of simulating")
	fs.StringVar(&f.replayRUL, "replay-rul", "", "RUL file for a test file (default: RUL_<FDxxx>.txt next to a test_<FDxxx>.txt)")
	fs.BoolVar(&f.stdout, "stdout", false, "write payloads to stdout, one per line, instead of MQTT")
	fs.BoolVar(&f.stdoutTopics, "stdout-topics", false, "with --stdout, prefix each line with the topic and a space")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines and summary")
	fs.DurationVar(&f.progress, "progress", 5*time.Second, "progress line interval on stderr (0 = none)")
	fs.Uint64Var(&f.faultSeed, "fault-seed", 1, "random seed of the fault injector")
	fs.IntVar(&f.oversize, "oversize-bytes", sim.DefaultOversizeBytes, "size of oversized payloads")
	fs.IntVar(&f.burst, "burst-size", sim.DefaultBurstSize, "messages per burst")
	fs.IntVar(&f.stuck, "stuck-for", sim.DefaultStuckFor, "readings a stuck sensor repeats its value")
	fs.IntVar(&f.storm, "storm-cycles", sim.DefaultStormCycles, "disconnect/reconnect cycles per storm")
	f.faults = map[sim.FaultKind]*float64{}
	for _, k := range sim.FaultKinds() {
		name := "fault-" + strings.ReplaceAll(k.String(), "_", "-")
		f.faults[k] = fs.Float64(name, 0, "probability per message of fault "+k.String())
	}
}

func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f publishFlags
	fs := newFlagSet("firmware-sim", stderr)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "firmware-sim: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if f.password == "" {
		f.password = os.Getenv("FIRMWARE_SIM_PASSWORD")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	src, devices, err := f.source()
	if err != nil {
		return err
	}
	sink, err := f.sink(ctx, stdout, log)
	if err != nil {
		return err
	}
	pub, closeTruth, inj, err := f.publisher(src, sink, devices, log)
	if err != nil {
		return errors.Join(err, sink.Close())
	}
	stopProgress := f.reportProgress(pub, stderr)
	runErr := pub.Run(ctx)
	stopProgress()
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		runErr = nil // Ctrl-C or --duration: a normal end
	}
	err = errors.Join(runErr, sink.Close(), closeTruth())
	if !f.quiet {
		summary(stderr, pub.Stats(), sink, inj)
		if f.labeler != nil {
			fmt.Fprintf(stderr, "labels: %d published to %s, %d not yet due (filed less than --labels-lag ago)\n",
				f.labeler.Sent(), f.labelsTopic, f.labeler.Pending())
		}
	}
	return err
}

func (f *publishFlags) startTime() (time.Time, error) {
	switch {
	case f.start == "" && f.stdout:
		return sim.DefaultStart, nil
	case f.start == "" || f.start == "now":
		return time.Now().UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339Nano, f.start)
	if err != nil {
		return t, fmt.Errorf("--start: %w", err)
	}
	return t, nil
}
