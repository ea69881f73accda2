// Command edgepm-train trains the default edgepm model from firmware-sim
// data and writes it as a model package (manifest.json + model.onnx).
//
//	go run ./cmd/edgepm-train -out models/default
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
	o := defaultOptions()
	flag.StringVar(&o.Out, "out", o.Out, "output package directory")
	flag.Int64Var(&o.Data.Seed, "seed", o.Data.Seed, "simulator seed")
	flag.IntVar(&o.Data.Machines, "machines", o.Data.Machines, "simulated machines")
	flag.IntVar(&o.Data.Days, "days", o.Data.Days, "simulated days")
	flag.DurationVar(&o.Data.Every, "every", o.Data.Every, "simulated time between two windows of a machine")
	flag.DurationVar(&o.Data.Horizon, "horizon", o.Data.Horizon, "label: failure within this horizon")
	flag.IntVar(&o.Train.Epochs, "epochs", o.Train.Epochs, "training epochs")
	flag.StringVar(&o.Version, "version", o.Version, "model version")
	flag.Parse()
	start := time.Now()
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
