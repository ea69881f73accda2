package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

// fd001Options configure the C-MAPSS FD001 remaining-useful-life model.
type fd001Options struct {
	Data, Out, Name, Version string
	Train                    trainConfig
	Window                   features.WindowConfig
	Cap                      int     // piecewise-linear target cap R_early, cycles
	Raise, Clear             float64 // alert thresholds, cycles
	Validate                 bool    // train on 80 units, report 20 held-out ones, write nothing
}

func defaultFD001Options() fd001Options {
	return fd001Options{
		Data: "../shared/datasets/cmapss", Out: "models/cmapss-fd001", Name: "cmapss-fd001", Version: "1.0.0",
		Train: trainConfig{Seed: 1, Hidden: 32, Epochs: 40, Batch: 64, LR: 1e-3, L2: 1e-3, Regression: true},
		// A count window of up to 30 cycles that is ready from the first
		// cycle: one prediction per cycle of every unit.
		Window: features.WindowConfig{Kind: features.KindCount, Size: 30, Hop: 1, MinSamples: 1},
		Cap:    125, Raise: 30, Clear: 40,
	}
}

// fd001Sensors are the 14 informative FD001 sensors of the usual protocol;
// the other seven and the operational settings are (almost) constant.
var fd001Sensors = []string{"s2", "s3", "s4", "s7", "s8", "s9", "s11", "s12", "s13", "s14", "s15", "s17", "s20", "s21"}

// fd001Specs are the model's input features, in order: per sensor the
// window mean and two EWMAs (their differences carry the trend). None
// depends on the time between cycles (no slope), so any replay interval
// serves the same rows; "count" tells the model how many cycles a partial
// window holds. Chosen with -validate (docs/models.md), not on the test set.
func fd001Specs() []features.Spec {
	var specs []features.Spec
	for _, s := range fd001Sensors {
		specs = append(specs,
			features.Spec{Sensor: s, Stat: features.Mean},
			features.Spec{Sensor: s, Stat: features.EWMA, Alpha: 0.1},
			features.Spec{Sensor: s, Stat: features.EWMA, Alpha: 0.3})
	}
	return append(specs, features.Spec{Sensor: fd001Sensors[0], Stat: features.Count})
}

// fd001Result holds the figures runFD001 reports.
type fd001Result struct {
	ID, SHA          string
	TrainRows        int
	Train            rulMetrics // every training cycle, target capped
	Test, TestUncap  rulMetrics // last cycle per test unit, truth capped / uncapped
	TestAll          rulMetrics // every test cycle, truth capped
	HeldOut, HeldEnd rulMetrics // -validate: held-out units, every cycle / rows with rul <= cap
}

func runFD001(o fd001Options) (fd001Result, error) {
	var res fd001Result
	trainRows, testRows, rul, digests, err := readFD001(o.Data)
	if err != nil {
		return res, err
	}
	specs := fd001Specs()
	plan, err := features.NewPlan(specs, nil)
	if err != nil {
		return res, err
	}
	train, err := fd001Features(trainRows, nil, plan, o.Window, o.Cap)
	if err != nil {
		return res, fmt.Errorf("train_FD001: %w", err)
	}
	if o.Validate {
		return validateFD001(o, train.rows)
	}
	test, err := fd001Features(testRows, rul, plan, o.Window, o.Cap)
	if err != nil {
		return res, fmt.Errorf("test_FD001: %w", err)
	}
	g, stats := fitRUL(o, train.rows)
	res.TrainRows = len(train.rows)
	res.Train = evalRows(g, train.rows, true)
	res.Test, res.TestUncap = evalRows(g, test.last, true), evalRows(g, test.last, false)
	res.TestAll = evalRows(g, test.rows, true)

	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		return res, err
	}
	man := fd001Manifest(o, specs, stats, g, test, res, digests)
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		return res, err
	}
	if err := modelpkg.WritePackageDir(o.Out, pkg); err != nil {
		return res, err
	}
	res.ID, res.SHA = man.ID(), man.ONNXSHA256
	return res, nil
}

// validateFD001 trains on units whose id is not a multiple of 5 and
// evaluates the 20 others at every cycle: the figures used to choose the
// features and hyperparameters without looking at the test set.
func validateFD001(o fd001Options, rows []rulExample) (fd001Result, error) {
	var fit, held, heldEnd []rulExample
	for _, ex := range rows {
		switch {
		case ex.unit%5 != 0:
			fit = append(fit, ex)
		case ex.rul <= o.Cap:
			heldEnd = append(heldEnd, ex)
			fallthrough
		default:
			held = append(held, ex)
		}
	}
	g, _ := fitRUL(o, fit)
	return fd001Result{TrainRows: len(fit), Train: evalRows(g, fit, true),
		HeldOut: evalRows(g, held, true), HeldEnd: evalRows(g, heldEnd, true)}, nil
}

// fitRUL standardises the features on rows, trains the network on the
// target scaled to [0, 1] (y / Cap) and returns the exported graph, whose
// output is in cycles and clipped at 0, and the manifest's feature_stats.
func fitRUL(o fd001Options, rows []rulExample) (g *onnxgen.Model, stats []modelpkg.FeatureStat) {
	set := make([]example, len(rows))
	for i, ex := range rows {
		set[i] = example{x: ex.x, y: ex.y / float64(o.Cap)}
	}
	mean, std := standardise(set)
	zs, ys := matrix(set, mean, std)
	net := train(zs, ys, o.Train)
	return rulGraph(net, mean, std, o), featureStats(set, mean, std)
}

// rulGraph exports net with its output scaled back to cycles and a ReLU so
// that a remaining useful life is never negative.
func rulGraph(net *mlp, mean, std []float64, o fd001Options) *onnxgen.Model {
	g := &onnxgen.Model{Name: o.Name, InputName: "features", OutputName: "remaining_useful_life",
		Producer: "edgepm-train", ProducerVersion: o.Version,
		Doc: fmt.Sprintf("C-MAPSS FD001 remaining useful life in cycles (target capped at %d) from window features", o.Cap)}
	net.export(g, mean, std, float64(o.Cap), onnxgen.ReLU)
	return g
}

// evalRows scores rows with the exported float32 graph (what the edge
// serves) against their true RUL, capped at the training cap or not.
func evalRows(g *onnxgen.Model, rows []rulExample, capped bool) rulMetrics {
	pred, truth := make([]float64, len(rows)), make([]float64, len(rows))
	for i, ex := range rows {
		pred[i] = float64(onnxgen.Eval(g, ex.x)[0])
		truth[i] = float64(ex.rul)
		if capped {
			truth[i] = ex.y
		}
	}
	return rulEval(pred, truth)
}

func fd001Manifest(o fd001Options, specs []features.Spec, stats []modelpkg.FeatureStat, g *onnxgen.Model, test fd001Set, res fd001Result, digests map[string]string) *modelpkg.Manifest {
	man := &modelpkg.Manifest{
		SchemaVersion: modelpkg.SchemaVersion, Name: o.Name, Version: o.Version,
		Description: fmt.Sprintf("Remaining useful life in operating cycles of C-MAPSS FD001 turbofan engines (trained on a target capped at %d), "+
			"from the 14 informative sensors over up to 30 cycles; scores every cycle from the first. "+
			"Unsigned: serve with allow_unsigned (development only).", o.Cap),
		InputName: g.InputName, OutputName: g.OutputName, OutputSemantics: modelpkg.SemanticsRULCycles,
		Window: o.Window, Features: specs,
		Thresholds: modelpkg.Thresholds{Raise: o.Raise, Clear: o.Clear},
		Targeting:  modelpkg.Targeting{DeviceClasses: []string{"engine"}},
		// Outputs are in cycles (up to ~130): allow float32 rounding differences
		// between ONNX Runtime's and Go's summation order.
		Tolerance: 1e-2, FeatureStats: stats,
	}
	man.SetSchemaVersion()
	for _, ex := range pickRULSamples(test) {
		man.Samples = append(man.Samples, modelpkg.Sample{Input: ex.x, Output: onnxgen.Eval(g, ex.x)})
	}
	info := map[string]any{
		"tool": "cmd/edgepm-train -dataset cmapss-fd001", "dataset": "NASA C-MAPSS FD001 (Saxena, Goebel, Simon, Eklund 2008)",
		"files":         digests,
		"target":        fmt.Sprintf("piecewise linear: min(last cycle - cycle, %d) on train_FD001, every cycle of every unit", o.Cap),
		"normalisation": "z-score of each feature fitted on the training rows (in the graph)",
		"model": fmt.Sprintf("mlp %d-%d-1 relu, linear output x %d clipped at 0, adam, mse, %d epochs, batch %d, lr %g, l2 %g, seed %d",
			len(specs), o.Train.Hidden, o.Cap, o.Train.Epochs, o.Train.Batch, o.Train.LR, o.Train.L2, o.Train.Seed),
		"train_rows":               res.TrainRows,
		"train_every_cycle_capped": res.Train,
		"test_last_cycle_capped":   res.Test,
		"test_last_cycle_uncapped": res.TestUncap,
		"test_every_cycle_capped":  res.TestAll,
		"test_protocol":            "test_FD001 + RUL_FD001: prediction at each unit's last cycle; d = predicted - true RUL",
	}
	man.Training, _ = json.Marshal(info)
	return man
}

// pickRULSamples returns the manifest's sample rows: the first cycle of the
// test replay (a one-sample window) and the last cycles of seven test units
// spread over the range of true RUL, so validation checks the graph from
// healthy to nearly failed.
func pickRULSamples(test fd001Set) []rulExample {
	last := slices.Clone(test.last)
	slices.SortStableFunc(last, func(a, b rulExample) int { return cmp.Compare(a.rul, b.rul) })
	out := []rulExample{test.rows[0]}
	for i := range 7 {
		out = append(out, last[i*(len(last)-1)/6])
	}
	return out
}
