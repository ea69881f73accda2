// Command edgepm-train trains edgepm models and writes them as model
// packages (manifest.json + model.onnx):
//
//	go run ./cmd/edgepm-train -out models/default
//	go run ./cmd/edgepm-train -dataset cmapss-fd001 -data ../shared/datasets/cmapss -out models/cmapss-fd001
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
	"flag"
	"fmt"
	"log"
	"os"
	"time"
)

func main() {
	log.SetFlags(0)
	o, fo := defaultOptions(), defaultFD001Options()
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
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	start := time.Now()
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
