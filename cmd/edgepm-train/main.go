// Command edgepm-train trains edgepm models and writes them as model
// packages (manifest.json + model.onnx):
//
//	go run ./cmd/edgepm-train -out models/default
//	go run ./cmd/edgepm-train -dataset cmapss-fd001 -data ../shared/datasets/cmapss -out models/cmapss-fd001
//
//	go run ./cmd/edgepm-train --from-kafka 127.0.0.1:9092 --from 2025-01-01T00:00:00Z --to 2025-03-01T00:00:00Z -out pkg/
//
// --from-kafka trains on the Kafka log instead: edgepm.readings and
// edgepm.labels for a time range (internal/trainset; docs/models.md,
// "Training from Kafka"); --rows-out writes the training rows as CSV.
//
//	go run ./cmd/edgepm-train --evaluate --from-kafka 127.0.0.1:9092 --from T1 --to T2 --champion DIR --challenger DIR --report out/eval
//
// --evaluate compares a challenger package with the champion on the same
// holdout from Kafka, writes a report and exits 0 when the challenger wins,
// 3 when the champion keeps, 1 on error (docs/models.md, "Champion and
// challenger"). With --push-canary SPEC --key K a winning challenger is
// pushed as a signed canary to those gateways (fleet/rollout, as
// `edgepm model push --canary`); a loser is never pushed.
//
// The default dataset, "sim", is firmware-sim data (failure within a
// horizon, the default model). "cmapss-fd001" trains a remaining-useful-life
// model on NASA C-MAPSS FD001 by the usual protocol (docs/models.md) and
// prints its test RMSE and PHM08 score next to published figures.
//
// It is deterministic: the same flags write the same bytes. Features are
// computed by package inference/features, the code the edge serves with.
// Dev tool: not part of the appliance.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
)

func main() {
	log.SetFlags(0)
	o, fo, ko := defaultOptions(), defaultFD001Options(), defaultKafkaOptions()
	var eo evalOptions
	var po pushOptions
	dataset := flag.String("dataset", "sim", "training data: sim (firmware-sim, the default model) or cmapss-fd001")
	flag.StringVar(&fo.Data, "data", fo.Data, "cmapss-fd001: folder with train_FD001.txt, test_FD001.txt, RUL_FD001.txt")
	flag.BoolVar(&fo.Validate, "validate", false, "cmapss-fd001: train on 80 units, report the 20 held-out ones, write nothing")
	flag.StringVar(&o.Out, "out", o.Out, "output package directory (with -dataset cmapss-fd001: models/cmapss-fd001 unless set)")
	flag.Int64Var(&o.Data.Seed, "seed", o.Data.Seed, "simulator seed (cmapss-fd001: training seed)")
	flag.IntVar(&o.Data.Machines, "machines", o.Data.Machines, "simulated machines")
	flag.IntVar(&o.Data.Days, "days", o.Data.Days, "simulated days")
	flag.DurationVar(&o.Data.Every, "every", o.Data.Every, "simulated time between two windows of a machine")
	flag.DurationVar(&o.Data.Horizon, "horizon", o.Data.Horizon, "label: failure within this horizon")
	flag.IntVar(&o.Train.Epochs, "epochs", 0, "training epochs (default 30 for sim, 40 for cmapss-fd001)")
	flag.StringVar(&o.Version, "version", o.Version, "model version")
	flag.IntVar(&o.Train.Hidden, "hidden", o.Train.Hidden, "sim, --from-kafka: hidden units of the MLP")
	flag.Float64Var(&o.Raise, "raise", o.Raise, "sim, --from-kafka: the package's alert raise threshold (clear: the lower of 0.5 and raise - 0.1)")
	flag.Float64Var(&o.Train.PosWeight, "pos-weight", o.Train.PosWeight, "sim, --from-kafka: weight of a failure row against a healthy one in the loss (higher: more recall, less precision at the threshold)")
	ko.register()
	eo.register()
	po.register()
	registerEvents()
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	start := time.Now()
	if !(o.Raise > 0 && o.Raise < 1) {
		fmt.Fprintf(os.Stderr, "edgepm-train: -raise: must be between 0 and 1, got %g\n", o.Raise)
		os.Exit(2)
	}
	o.Clear = min(o.Clear, o.Raise-0.1)
	if o.Train.Hidden < 1 {
		fmt.Fprintf(os.Stderr, "edgepm-train: -hidden: must be at least 1, got %d\n", o.Train.Hidden)
		os.Exit(2)
	}
	if !(o.Train.PosWeight > 0) {
		fmt.Fprintf(os.Stderr, "edgepm-train: -pos-weight: must be > 0, got %g\n", o.Train.PosWeight)
		os.Exit(2)
	}
	if po.Canary != "" && !eo.On {
		fmt.Fprintln(os.Stderr, "edgepm-train: --push-canary ships the winner of --evaluate: give --evaluate too")
		os.Exit(2)
	}
	if eo.On {
		mainEvaluate(o, ko, eo, po)
		return
	}
	if ko.Brokers != "" {
		if !set["out"] && ko.RowsOut == "" {
			fmt.Fprintln(os.Stderr, "edgepm-train: --from-kafka needs -out (a package), --rows-out (training rows) or both")
			os.Exit(2)
		}
		ko.Train = set["out"]
		if o.Train.Epochs == 0 { // the flag's 0 means the default of the model trained
			o.Train.Epochs = defaultOptions().Train.Epochs
		}
		mainKafka(o, ko, start)
		return
	}
	switch *dataset {
	case "sim":
		if o.Train.Epochs == 0 {
			o.Train.Epochs = defaultOptions().Train.Epochs
		}
		mainSim(o, start)
	case "cmapss-fd001":
		if set["out"] {
			fo.Out = o.Out
		}
		if set["seed"] {
			fo.Train.Seed = uint64(o.Data.Seed)
		}
		if o.Train.Epochs != 0 {
			fo.Train.Epochs = o.Train.Epochs
		}
		fo.Version = o.Version
		mainFD001(fo, start)
	default:
		log.Fatalf("edgepm-train: -dataset: want sim or cmapss-fd001, got %q", *dataset)
	}
}

func mainSim(o options, start time.Time) {
	res, err := run(o)
	if err != nil {
		log.Fatalf("edgepm-train: %v", err)
	}
	m := res.Test
	fmt.Fprintf(os.Stdout, "edgepm-train: wrote %s (%s, sha256 %s)\n", o.Out, res.ID, res.SHA[:16])
	fmt.Fprintf(os.Stdout, "  data: %d train rows (%d positive), %d held-out rows (%d positive) from %d machines x %d days\n",
		res.Train.Rows, res.Train.Positives, m.Rows, m.Positives, o.Data.Machines, o.Data.Days)
	fmt.Fprintf(os.Stdout, "  held-out machines @ %.2f: precision %.3f recall %.3f AUC %.3f (%.1fs)\n",
		m.Threshold, m.Precision, m.Recall, m.AUC, time.Since(start).Seconds())
}

func mainFD001(o fd001Options, start time.Time) {
	res, err := runFD001(o)
	if err != nil {
		log.Fatalf("edgepm-train: %v", err)
	}
	w := os.Stdout
	if o.Validate {
		fmt.Fprintf(w, "edgepm-train: cmapss-fd001 validation (train on units id%%5 != 0, %d rows; hold out the other 20), seed %d\n",
			res.TrainRows, o.Train.Seed)
		fmt.Fprintf(w, "  train every cycle:                RMSE %6.2f\n", res.Train.RMSE)
		fmt.Fprintf(w, "  held-out every cycle (capped):    RMSE %6.2f (%d rows)\n", res.HeldOut.RMSE, res.HeldOut.N)
		fmt.Fprintf(w, "  held-out cycles with RUL <= %d:  RMSE %6.2f (%d rows) (%.1fs)\n", o.Cap, res.HeldEnd.RMSE, res.HeldEnd.N,
			time.Since(start).Seconds())
		return
	}
	fmt.Fprintf(w, "edgepm-train: wrote %s (%s, sha256 %s)\n", o.Out, res.ID, res.SHA[:16])
	fmt.Fprintf(w, "  train_FD001: %d rows (every cycle of 100 units), RMSE %.2f against the capped target\n", res.TrainRows, res.Train.RMSE)
	fmt.Fprintf(w, "  test_FD001 every cycle (%d rows), truth capped at %d: RMSE %.2f\n", res.TestAll.N, o.Cap, res.TestAll.RMSE)
	printComparison(w, res.Test, res.TestUncap)
	fmt.Fprintf(w, "  (%.1fs)\n", time.Since(start).Seconds())
}

func (ko *kafkaOptions) register() {
	flag.StringVar(&ko.Brokers, "from-kafka", "", "train from Kafka: seed brokers host:port[,host:port...] (with --from, --to)")
	flag.StringVar(&ko.From, "from", "", "--from-kafka: start of the readings' time range, RFC 3339 (inclusive)")
	flag.StringVar(&ko.To, "to", "", "--from-kafka: end of the readings' time range, RFC 3339 (exclusive)")
	flag.StringVar(&ko.Group, "group", "", "--from-kafka: consumer group; give processes sharing one extraction the same name (default: unique per run)")
	flag.StringVar(&ko.ReadingsTopic, "readings-topic", ko.ReadingsTopic, "--from-kafka: readings topic")
	flag.StringVar(&ko.LabelsTopic, "labels-topic", ko.LabelsTopic, "--from-kafka: labels topic (docs/formats/kafka-records.md)")
	flag.StringVar(&ko.RowsOut, "rows-out", "", "--from-kafka: write the training rows to this CSV (features export format plus a label column)")
	flag.IntVar(&ko.MinFailures, "min-failures", ko.MinFailures, "--from-kafka: refuse to train on fewer failure labels in the range")
}

func mainKafka(o options, ko kafkaOptions, start time.Time) {
	res, err := runKafka(context.Background(), o, ko)
	if res.Set != nil {
		c, _ := json.Marshal(res.Set.Counts)
		l, _ := json.Marshal(res.Set.Labels)
		fmt.Fprintf(os.Stdout, "edgepm-train: %s to %s from Kafka (group %s): %d rows kept (%d positive), %d failures in range\n  readings %s\n  labels %s\n",
			ko.From, ko.To, res.Set.Group, len(res.Set.Rows), res.Set.Counts.Positives, res.Set.Failures, c, l)
	}
	if err != nil {
		log.Fatalf("edgepm-train: %v", err)
	}
	if ko.RowsOut != "" {
		fmt.Fprintf(os.Stdout, "edgepm-train: wrote %d rows to %s\n", len(res.Set.Rows), ko.RowsOut)
	}
	if m := res.Model; m != nil {
		publishEvent(context.Background(), ko.Brokers, wire.EventModelTrained, trainedDetail(o, ko, res))
		fmt.Fprintf(os.Stdout, "edgepm-train: wrote %s (%s, sha256 %s)\n", o.Out, m.ID, m.SHA[:16])
		fmt.Fprintf(os.Stdout, "  data: %d train rows (%d positive), %d held-out rows (%d positive)\n",
			m.Train.Rows, m.Train.Positives, m.Test.Rows, m.Test.Positives)
		fmt.Fprintf(os.Stdout, "  held-out devices @ %.2f: precision %.3f recall %.3f AUC %.3f (%.1fs)\n",
			m.Test.Threshold, m.Test.Precision, m.Test.Recall, m.Test.AUC, time.Since(start).Seconds())
	}
}
