package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

type options struct {
	Out     string
	Name    string
	Version string
	Data    dataConfig
	Train   trainConfig
	Window  features.WindowConfig
	Raise   float64
	Clear   float64
	MinDur  time.Duration
}

func defaultOptions() options {
	return options{
		Out: "models/default", Name: "edgepm-default", Version: "1.0.0",
		Data: dataConfig{Seed: 1, Machines: 40, Days: 240, Every: 2 * time.Hour, Interval: time.Second,
			Horizon: 24 * time.Hour},
		Train:  trainConfig{Seed: 1, Hidden: 16, Epochs: 30, Batch: 128, LR: 3e-3, L2: 1e-4, PosWeight: 4},
		Window: features.WindowConfig{Kind: features.KindCount, Size: 30, Hop: 5},
		Raise:  0.8, Clear: 0.5, MinDur: 30 * time.Second,
	}
}

// defaultSpecs is the default model's 32 features, in input order.
func defaultSpecs() []features.Spec {
	var specs []features.Spec
	add := func(sensor string, stats ...features.Stat) {
		for _, s := range stats {
			specs = append(specs, features.Spec{Sensor: sensor, Stat: s})
		}
	}
	add("vibration_rms", features.Mean, features.Std, features.Min, features.Max, features.RMS, features.PeakToPeak,
		features.Crest, features.Skewness, features.Kurtosis, features.Slope, features.EWMA, features.Last)
	add("vibration_kurtosis", features.Mean, features.Std, features.Max, features.EWMA, features.Last)
	add("bearing_temp_c", features.Mean, features.Std, features.Max, features.Slope, features.EWMA, features.Last)
	add("current_a", features.Mean, features.Std, features.Max, features.PeakToPeak, features.Slope, features.EWMA)
	add("speed_rpm", features.Mean, features.Std, features.Min)
	return specs
}

type result struct {
	ID, SHA     string
	Train, Test metrics
}

func run(o options) (result, error) {
	specs := defaultSpecs()
	plan, err := features.NewPlan(specs, nil)
	if err != nil {
		return result{}, err
	}
	data, err := generate(o.Data, plan, o.Window)
	if err != nil {
		return result{}, fmt.Errorf("generate data: %w", err)
	}
	return fit(o, specs, data, simSource(o))
}

// source says where the training rows came from, for the manifest.
type source struct {
	description string         // the manifest's description
	info        map[string]any // the manifest's training info (model and metrics are added)
}

func simSource(o options) source {
	return source{
		description: "Failure within " + o.Data.Horizon.String() + " for pumps, motors, fans and compressors (firmware-sim trained). Unsigned: serve with allow_unsigned (development only).",
		info: map[string]any{
			"tool": "cmd/edgepm-train", "simulator": "firmware-sim", "seed": o.Data.Seed, "machines": o.Data.Machines,
			"days": o.Data.Days, "window_every": o.Data.Every.String(), "reading_interval": o.Data.Interval.String(),
			"label": "failure within " + o.Data.Horizon.String(), "split": "held-out machines (index % 5 == 4)",
		},
	}
}

// fit trains on the rows of the machines with index % 5 != 4, scores the
// others, and writes the package to o.Out.
func fit(o options, specs []features.Spec, data []example, src source) (result, error) {
	var trainSet, testSet []example
	for _, ex := range data {
		if ex.machine%5 == 4 {
			testSet = append(testSet, ex)
		} else {
			trainSet = append(trainSet, ex)
		}
	}
	if len(trainSet) == 0 || len(testSet) == 0 {
		return result{}, fmt.Errorf("not enough data: %d rows (%d to train on, %d held out; at least 5 machines are needed)", len(data), len(trainSet), len(testSet))
	}
	mean, std := standardise(trainSet)
	zs, ys := matrix(trainSet, mean, std)
	net := train(zs, ys, o.Train)
	g := graph(net, mean, std, o)

	var res result
	res.Train = score(g, trainSet, o.Raise)
	res.Test = score(g, testSet, o.Raise)
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		return result{}, err
	}
	man := manifest(o, specs, featureStats(trainSet, mean, std), g, testSet, res, src)
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		return result{}, err
	}
	if err := modelpkg.WritePackageDir(o.Out, pkg); err != nil {
		return result{}, err
	}
	res.ID, res.SHA = man.ID(), man.ONNXSHA256
	return res, nil
}

// featureStats is the manifest's feature_stats for the training set: each
// feature's mean and std (rounded) and decile histogram.
func featureStats(set []example, mean, std []float64) []modelpkg.FeatureStat {
	rows := make([][]float32, len(set))
	for i, ex := range set {
		rows[i] = ex.x
	}
	hs := modelpkg.HistsOf(rows, len(mean))
	st := make([]modelpkg.FeatureStat, len(mean))
	for j := range st {
		st[j] = modelpkg.FeatureStat{Mean: round(mean[j]), Std: round(std[j]), Hist: hs[j]}
	}
	return st
}

func standardise(set []example) (mean, std []float64) {
	f := len(set[0].x)
	mean, std = make([]float64, f), make([]float64, f)
	for _, ex := range set {
		for j, v := range ex.x {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(len(set))
	}
	for _, ex := range set {
		for j, v := range ex.x {
			d := float64(v) - mean[j]
			std[j] += d * d
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j] / float64(len(set)))
	}
	return mean, std
}

// invStd is 1/std, with 1 for constant features (they carry no signal).
func invStd(s float64) float64 {
	if s < 1e-9 {
		return 1
	}
	return 1 / s
}

func matrix(set []example, mean, std []float64) ([][]float64, []float64) {
	zs, ys := make([][]float64, len(set)), make([]float64, len(set))
	for i, ex := range set {
		z := make([]float64, len(ex.x))
		for j, v := range ex.x {
			// Same float32 arithmetic as the served graph's Sub and Mul.
			z[j] = float64((v - float32(mean[j])) * float32(invStd(std[j])))
		}
		zs[i], ys[i] = z, ex.y
	}
	return zs, ys
}

func graph(net *mlp, mean, std []float64, o options) *onnxgen.Model {
	g := &onnxgen.Model{Name: o.Name, InputName: "features", OutputName: "failure_probability",
		Producer: "edgepm-train", ProducerVersion: o.Version,
		Doc: "edgepm default model: failure within " + o.Data.Horizon.String() + " from window features"}
	net.export(g, mean, std, 1, onnxgen.Sigmoid)
	return g
}

// export writes the network into g: input standardisation, the ReLU hidden
// layer and the output layer (scaled by scale) with activation out.
func (net *mlp) export(g *onnxgen.Model, mean, std []float64, scale float64, out onnxgen.Activation) {
	for j := range mean {
		g.Mean = append(g.Mean, float32(mean[j]))
		g.InvStd = append(g.InvStd, float32(invStd(std[j])))
	}
	l1 := onnxgen.Dense{Act: onnxgen.ReLU}
	for i, row := range net.w1 {
		r := make([]float32, len(row))
		for j, w := range row {
			r[j] = float32(w)
		}
		l1.W = append(l1.W, r)
		l1.B = append(l1.B, float32(net.b1[i]))
	}
	w2 := make([]float32, len(net.w2))
	for i, w := range net.w2 {
		w2[i] = float32(w * scale)
	}
	g.Layers = []onnxgen.Dense{l1, {W: [][]float32{w2}, B: []float32{float32(net.b2 * scale)}, Act: out}}
}

// score evaluates the exported float32 graph (what the edge serves).
func score(g *onnxgen.Model, set []example, threshold float64) metrics {
	scores, ys := make([]float64, len(set)), make([]float64, len(set))
	for i, ex := range set {
		scores[i] = float64(onnxgen.Eval(g, ex.x)[0])
		ys[i] = ex.y
	}
	return evaluate(scores, ys, threshold)
}

func manifest(o options, specs []features.Spec, stats []modelpkg.FeatureStat, g *onnxgen.Model, test []example, res result, src source) *modelpkg.Manifest {
	man := &modelpkg.Manifest{
		SchemaVersion: modelpkg.SchemaVersion, Name: o.Name, Version: o.Version,
		Description: src.description,
		InputName:   g.InputName, OutputName: g.OutputName, OutputSemantics: modelpkg.SemanticsFailureProbability,
		Window: o.Window, Features: specs,
		Thresholds: modelpkg.Thresholds{Raise: o.Raise, Clear: o.Clear, MinDuration: features.Duration(o.MinDur)},
		Tolerance:  1e-4, FeatureStats: stats,
	}
	man.SetSchemaVersion()
	for _, ex := range pickSamples(test, 8) {
		man.Samples = append(man.Samples, modelpkg.Sample{Input: ex.x, Output: onnxgen.Eval(g, ex.x)})
	}
	info := maps.Clone(src.info)
	info["model"] = fmt.Sprintf("mlp %d-%d-1 relu/sigmoid, adam, %d epochs, seed %d", len(specs), o.Train.Hidden, o.Train.Epochs, o.Train.Seed)
	info["train"], info["held_out"] = res.Train, res.Test
	man.Training, _ = json.Marshal(info)
	return man
}

// pickSamples returns up to n rows, alternating positives and negatives,
// spread over the set (deterministic).
func pickSamples(set []example, n int) []example {
	var pos, neg []example
	for _, ex := range set {
		if ex.y > 0.5 {
			pos = append(pos, ex)
		} else {
			neg = append(neg, ex)
		}
	}
	var out []example
	for i := 0; len(out) < n && (i < len(pos) || i < len(neg)); i++ {
		for _, s := range [][]example{pos, neg} {
			if len(s) > 0 && len(out) < n {
				out = append(out, s[(i*len(s)/n*2+i)%len(s)])
			}
		}
	}
	return out
}

func round(v float64) float64 { return math.Round(v*1e6) / 1e6 }
