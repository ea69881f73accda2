package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
)

// source builds the plant or the C-MAPSS replay; devices is the count of
// devices per tick at the start (for the default rate; the publisher scales
// it when machines are added part-way).
func (f *publishFlags) source() (sim.Source, int, error) {
	start, err := f.startTime()
	if err != nil {
		return nil, 0, err
	}
	if f.replay != "" {
		return f.replaySource(start)
	}
	p, err := sim.NewPlant(sim.Config{Seed: f.seed, Machines: f.machines, Classes: splitList(f.classes),
		FirstMachine: f.firstMachine, AddMachines: f.addMachines, AddAt: f.addAt, AddClasses: splitList(f.addClasses),
		Site: f.site, Line: f.line, Interval: f.interval, Accel: f.accel, Start: start,
		MeanTimeToOnset: f.meanOnset, MeanDegradation: f.meanDegradation, RepairTime: f.repairTime})
	if err != nil {
		return nil, 0, err
	}
	cfg := p.Config()
	return &sim.PlantSource{Plant: p, Interval: cfg.Interval}, len(p.Devices()), nil
}

func (f *publishFlags) replaySource(start time.Time) (sim.Source, int, error) {
	rows, err := readFile(f.replay, sim.ReadCMAPSS)
	if err != nil {
		return nil, 0, err
	}
	rulPath := f.replayRUL
	if base := filepath.Base(f.replay); rulPath == "" && strings.HasPrefix(base, "test_") {
		rulPath = filepath.Join(filepath.Dir(f.replay), "RUL_"+strings.TrimPrefix(base, "test_"))
	}
	var rul []int
	if rulPath != "" {
		if rul, err = readFile(rulPath, sim.ReadRUL); err != nil {
			return nil, 0, err
		}
	}
	rp, err := sim.NewReplay(rows, sim.ReplayConfig{Interval: f.interval, Start: start, RUL: rul})
	if err != nil {
		return nil, 0, err
	}
	return rp, len(rp.Devices()), nil
}

func readFile[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	fh, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer fh.Close()
	return parse(fh)
}

func (f *publishFlags) sink(ctx context.Context, stdout io.Writer, log *slog.Logger) (sim.Sink, error) {
	if f.stdout && f.format == sim.FormatSparkplugB {
		return nil, fmt.Errorf("--stdout: --format %s is binary protobuf, not lines; publish it to MQTT instead", f.format)
	}
	if f.stdout {
		s := sim.NewWriterSink(stdout)
		s.WithTopic = f.stdoutTopics
		return s, nil
	}
	if f.qos > 2 {
		return nil, fmt.Errorf("--qos: must be 0, 1 or 2, got %d", f.qos)
	}
	return sim.NewMQTTSink(ctx, sim.MQTTConfig{Broker: f.broker, ClientID: f.clientID, Username: f.username,
		Password: f.password, QoS: byte(f.qos), Window: f.window}, log)
}

// publisher builds the injector and the publisher; closeTruth closes the
// truth file.
func (f *publishFlags) publisher(src sim.Source, sink sim.Sink, devices int, log *slog.Logger) (*sim.Publisher, func() error, *sim.Injector, error) {
	rates := map[sim.FaultKind]float64{}
	for k, p := range f.faults {
		if *p != 0 {
			rates[k] = *p
		}
	}
	inj, err := sim.NewInjector(sim.FaultConfig{Rates: rates, Seed: f.faultSeed, OversizeBytes: f.oversize,
		StuckFor: f.stuck, BurstSize: f.burst, StormCycles: f.storm})
	if err != nil {
		return nil, nil, nil, err
	}
	cfg := sim.PublisherConfig{Format: f.format, BatchSize: f.batchSize, TopicTemplate: f.topic, Site: f.site,
		Line: f.line, Rate: f.messageRate(devices), Count: f.count, Faults: inj, TruthTopic: f.truthTopic}
	if f.rate < 0 {
		cfg.RateDevices = devices // keep simulated time at --accel when machines are added
	}
	closeTruth := func() error { return nil }
	if f.truthFile != "" {
		fh, err := os.Create(f.truthFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("truth file: %w", err)
		}
		cfg.Truth = fh
		closeTruth = fh.Close
	}
	closeAll, err := f.labels(&cfg, closeTruth)
	if err != nil {
		return nil, nil, nil, errors.Join(err, closeTruth())
	}
	pub, err := sim.NewPublisher(src, sink, cfg, log)
	if err != nil {
		return nil, nil, nil, errors.Join(err, closeAll())
	}
	return pub, closeAll, inj, nil
}

// messageRate is --rate, or for -1 the rate that keeps simulated time at
// --accel with devices readings per tick.
func (f *publishFlags) messageRate(devices int) float64 {
	if f.rate >= 0 {
		return f.rate
	}
	rate := float64(devices) * f.accel / f.interval.Seconds()
	if f.format == sim.FormatBatch && f.batchSize > 0 {
		rate /= float64(f.batchSize)
	}
	return rate
}

// labels sets cfg.Labels for --labels-to-kafka; the returned close
// function closes the label producer, then calls next.
func (f *publishFlags) labels(cfg *sim.PublisherConfig, next func() error) (func() error, error) {
	if f.labelsBrokers == "" {
		return next, nil
	}
	if f.replay != "" {
		return nil, fmt.Errorf("--labels-to-kafka: the C-MAPSS replay has no repairs to label; use the simulated plant")
	}
	ls, err := sim.NewKafkaLabelSink(splitList(f.labelsBrokers), f.labelsTopic)
	if err != nil {
		return nil, err
	}
	if f.labeler, err = sim.NewLabeler(ls, f.labelsLag); err != nil {
		return nil, errors.Join(fmt.Errorf("--labels-lag: %w", err), ls.Close())
	}
	cfg.Labels = f.labeler
	return func() error { return errors.Join(ls.Close(), next()) }, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
