package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/replay"
	"github.com/edgepm/edgepm/internal/trainset"
)

// kafkaOptions are the flags of --from-kafka.
type kafkaOptions struct {
	Brokers                    string
	From, To                   string // RFC 3339
	Group                      string
	ReadingsTopic, LabelsTopic string
	RowsOut                    string
	MinFailures                int
	Train                      bool // write a package (-out was given)
}

func defaultKafkaOptions() kafkaOptions {
	return kafkaOptions{ReadingsTopic: trainset.DefaultReadingsTopic, LabelsTopic: trainset.DefaultLabelsTopic, MinFailures: 10}
}

// kafkaResult is what runKafka did.
type kafkaResult struct {
	Set   *trainset.Result
	Model *result // nil when no package was written
}

// config turns the flags into the extraction's configuration.
func (ko kafkaOptions) config(o options, plan *features.Plan) (trainset.Config, error) {
	from, err := time.Parse(time.RFC3339Nano, ko.From)
	if err != nil {
		return trainset.Config{}, fmt.Errorf("--from: want an RFC 3339 time (2025-01-01T00:00:00Z), got %q", ko.From)
	}
	to, err := time.Parse(time.RFC3339Nano, ko.To)
	if err != nil {
		return trainset.Config{}, fmt.Errorf("--to: want an RFC 3339 time (2025-02-01T00:00:00Z), got %q", ko.To)
	}
	var brokers []string
	for _, b := range strings.Split(ko.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return trainset.Config{Brokers: brokers, ReadingsTopic: ko.ReadingsTopic, LabelsTopic: ko.LabelsTopic, Group: ko.Group,
		From: from, To: to, Plan: plan, Window: o.Window, Horizon: o.Data.Horizon, Every: o.Data.Every}, nil
}

// runKafka extracts the training set from Kafka, writes the rows
// (--rows-out) and, when ko.Train, trains and writes the package.
func runKafka(ctx context.Context, o options, ko kafkaOptions) (kafkaResult, error) {
	specs := defaultSpecs()
	plan, err := features.NewPlan(specs, nil)
	if err != nil {
		return kafkaResult{}, err
	}
	cfg, err := ko.config(o, plan)
	if err != nil {
		return kafkaResult{}, err
	}
	set, err := trainset.Extract(ctx, cfg)
	if err != nil {
		return kafkaResult{}, err
	}
	res := kafkaResult{Set: set}
	if ko.RowsOut != "" {
		if err := writeRows(ko.RowsOut, specs, set.Rows); err != nil {
			return res, err
		}
	}
	if !ko.Train {
		return res, nil
	}
	if err := set.CheckFailures(ko.MinFailures); err != nil {
		return res, err
	}
	m, err := fit(o, specs, examples(set.Rows), kafkaSource(o, ko, set))
	if err != nil {
		return res, err
	}
	res.Model = &m
	return res, nil
}

// examples numbers the devices in name order (the held-out split is by
// that index) and turns the rows into examples.
func examples(rows []trainset.Row) []example {
	var devices []string
	for _, r := range rows {
		if len(devices) == 0 || devices[len(devices)-1] != r.Device {
			devices = append(devices, r.Device) // rows are ordered by device
		}
	}
	out := make([]example, len(rows))
	for i, r := range rows {
		idx, _ := slices.BinarySearch(devices, r.Device)
		out[i] = example{x: r.Features, y: r.Label, machine: idx}
	}
	return out
}

func kafkaSource(o options, ko kafkaOptions, set *trainset.Result) source {
	return source{
		description: "Failure within " + o.Data.Horizon.String() + ", trained from Kafka (" + ko.ReadingsTopic + " and " + ko.LabelsTopic +
			", " + ko.From + " to " + ko.To + "). Unsigned: sign it before serving (edgepm model sign).",
		info: map[string]any{
			"tool": "cmd/edgepm-train --from-kafka", "readings_topic": ko.ReadingsTopic, "labels_topic": ko.LabelsTopic,
			"from": ko.From, "to": ko.To, "window_every": o.Data.Every.String(), "failures": set.Failures,
			"label": "failure within " + o.Data.Horizon.String(), "split": "held-out devices (index in name order % 5 == 4)",
			"counts": set.Counts, "labels": set.Labels,
		},
	}
}

// writeRows writes the rows in the CSV format of `edgepm features export`
// with one more column, label (1: failure within the horizon).
func writeRows(path string, specs []features.Spec, rows []trainset.Row) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--rows-out: %w", err)
	}
	cols := make([]string, 0, len(specs)+1)
	for _, s := range specs {
		cols = append(cols, s.String())
	}
	rw, err := replay.NewRowWriter(f, append(cols, "label"))
	for i := 0; err == nil && i < len(rows); i++ {
		r := rows[i].Row
		r.Features = append(slices.Clip(r.Features), float32(rows[i].Label))
		err = rw.Write(r)
	}
	if err == nil {
		err = rw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--rows-out %s: %w", path, err)
	}
	return nil
}
