package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
)

func runScore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("firmware-sim score", stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka seed brokers, comma separated")
	prefix := fs.String("topic-prefix", "edgepm.", "Kafka topic prefix")
	truthPath := fs.String("truth", "truth.jsonl", "ground truth JSON lines (firmware-sim --truth-file)")
	horizon := fs.Duration("horizon", 24*time.Hour, "an alert up to this long before a failure is a true positive")
	threshold := fs.Float64("threshold", 0, "if > 0, also score alerts derived from predictions at this score")
	idle := fs.Duration("idle", 3*time.Second, "stop reading Kafka after this long without records")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	fh, err := os.Open(*truthPath)
	if err != nil {
		return fmt.Errorf("truth: %w", err)
	}
	gt, err := sim.ReadTruth(fh)
	fh.Close()
	if err != nil {
		return err
	}
	alertsTopic, predsTopic := *prefix+"alerts", *prefix+"predictions"
	evs, bad, err := sim.ReadKafkaEvents(ctx, splitList(*brokers), []string{alertsTopic, predsTopic}, *idle)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "read %d alerts, %d predictions (%d unparsable records); truth: %d failures on %d devices\n",
		len(evs[alertsTopic]), len(evs[predsTopic]), bad, len(gt.Failures), len(gt.Span))
	printScore(stdout, "alerts ("+alertsTopic+")", sim.Score(gt, evs[alertsTopic], *horizon))
	if *threshold > 0 {
		derived := sim.AlertsFromPredictions(evs[predsTopic], *threshold)
		printScore(stdout, fmt.Sprintf("predictions >= %g", *threshold), sim.Score(gt, derived, *horizon))
	}
	return nil
}

func printScore(w io.Writer, name string, r sim.ScoreResult) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, horizon %s:\n", name, r.Horizon)
	fmt.Fprintf(&b, "  precision %.3f  recall %.3f  (failures %d, detected %d; raised %d: true %d, false %d, late %d, censored %d)\n",
		r.Precision, r.Recall, r.Failures, r.Detected, r.Raised, r.TruePositive, r.FalsePositive, r.Late, r.Censored)
	fmt.Fprintf(&b, "  lead time p10 %s  p50 %s  p90 %s\n", r.Quantile(0.1).Round(time.Minute),
		r.Quantile(0.5).Round(time.Minute), r.Quantile(0.9).Round(time.Minute))
	fmt.Fprintf(&b, "  false alarms per machine-day %.4f  (%.1f machine-days)\n", r.FalseAlarmsPerMachineDay, r.MachineDays)
	io.WriteString(w, b.String())
}
