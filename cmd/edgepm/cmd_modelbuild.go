package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/edgepm/edgepm/edge"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/inference/replay"
)

// maxAutoSamples is how many training rows `model build` records as samples.
const maxAutoSamples = 8

// cmdModelBuild makes a package directory from an .onnx file and a build
// spec: feature_stats from training readings (--train), the graph checked
// against the spec by ONNX Runtime, sample outputs recorded, then every
// gateway check run on the result before anything is written.
func cmdModelBuild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	onnxPath := fs.String("onnx", "", "the exported ONNX model")
	specPath := fs.String("spec", "", "the model spec (YAML): name, version, window, input, output, thresholds, targeting")
	train := fs.String("train", "", "training readings (JSON lines as in edgepm.readings, or .csv) for feature_stats and samples")
	out := fs.String("out", "", "package directory to write")
	keyPath := fs.String("key", "", "sign with this private key from `edgepm keygen` (else unsigned; see `model sign`)")
	lib := fs.String("onnxruntime-lib", os.Getenv("ONNXRUNTIME_LIB"), "libonnxruntime.so (default: $ONNXRUNTIME_LIB, then where `edgepm run` looks)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *onnxPath == "" || *specPath == "" || *out == "" {
		fmt.Fprint(stderr, "edgepm model build: --onnx, --spec and --out are required\n"+modelUsage)
		return 2
	}
	pkg, man, err := buildModel(*onnxPath, *specPath, *train, *lib)
	if err == nil && *keyPath != "" {
		err = signWithKeyFile(pkg, *keyPath)
	}
	if err == nil {
		err = modelpkg.WritePackageDir(*out, pkg)
	}
	if err != nil {
		return failModel(stderr, fmt.Errorf("model build: %w", err))
	}
	fmt.Fprintf(stdout, "built %s in %s: schema_version %d, input %s %v, %d samples, %d bytes of ONNX, signed %v\n",
		man.ID(), *out, man.SchemaVersion, inputKind(man), man.InputShape(), len(man.Samples), len(pkg.ONNX), pkg.Signature != nil)
	warnWeights(stderr, man.ID(), pkg.ONNX)
	return 0
}

// warnWeights tells the user when the model's weights would make scoring
// slow (denormal numbers); not an error: the model is valid.
func warnWeights(stderr io.Writer, id string, onnx []byte) {
	s, err := inference.ScanWeights(onnx)
	if w := s.DenormalWarning(); err == nil && w != "" {
		fmt.Fprintf(stderr, "edgepm: warning: model %s: %s\n", id, w)
	}
}

// buildModel returns the checked, unsigned package and its manifest.
func buildModel(onnxPath, specPath, train, lib string) (*modelpkg.Package, *modelpkg.Manifest, error) {
	onnx, err := os.ReadFile(onnxPath)
	if err != nil {
		return nil, nil, fmt.Errorf("read model: %w", err)
	}
	sb, err := os.ReadFile(specPath)
	if err != nil {
		return nil, nil, fmt.Errorf("read spec: %w", err)
	}
	spec, err := modelpkg.DecodeBuildSpec(sb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", specPath, err)
	}
	man, err := spec.Manifest()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", specPath, err)
	}
	var rows [][]float32
	if train != "" {
		if rows, err = trainingStats(train, man); err != nil {
			return nil, nil, err
		}
	}
	if _, err := edge.InitRuntime(lib); err != nil {
		return nil, nil, err
	}
	if err := recordSamples(onnx, man, spec.Samples, rows); err != nil {
		return nil, nil, err
	}
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := validatePackage(pkg, ""); err != nil {
		return nil, nil, err
	}
	return pkg, man, nil
}

// trainingStats sets man.FeatureStats from the training readings unless
// the spec gave them (the features' statistics over the rows, or each
// sensor's over the readings for a window input) and returns the rows the
// gateway would score for those readings.
func trainingStats(path string, man *modelpkg.Manifest) ([][]float32, error) {
	var err error
	if man.InputKind == modelpkg.InputWindow && man.FeatureStats == nil {
		if man.FeatureStats, err = sensorStats(path, man.Sensors); err != nil {
			return nil, err
		}
	}
	// Features are imputed with 0 until their stats are known.
	rows, err := trainingRows(path, man)
	if err != nil || man.FeatureStats != nil {
		return rows, err
	}
	if man.FeatureStats, err = modelpkg.StatsOf(rows, man.StatNames()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The training histograms drift is measured against (schema version 3).
	for j, h := range modelpkg.HistsOf(rows, len(man.FeatureStats)) {
		man.FeatureStats[j].Hist = h
	}
	man.SetSchemaVersion()
	return rows, nil
}

// sensorStats returns the mean and std of each sensor's finite values.
func sensorStats(path string, sensors []string) ([]modelpkg.FeatureStat, error) {
	cols := make([][]float32, len(sensors))
	err := readReadings(path, func(r replay.Reading) error {
		for i, s := range sensors {
			if v, ok := r.Values[s]; ok && v-v == 0 {
				cols[i] = append(cols[i], float32(v))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	stats := make([]modelpkg.FeatureStat, len(sensors))
	for i, c := range cols {
		rows := make([][]float32, len(c))
		for j := range c {
			rows[j] = c[j : j+1]
		}
		st, err := modelpkg.StatsOf(rows, sensors[i:i+1])
		if err != nil {
			return nil, fmt.Errorf("%s: sensor %s: %w", path, sensors[i], err)
		}
		stats[i] = st[0]
	}
	return stats, nil
}

// readReadings calls fn for each reading in the file at path.
func readReadings(path string, fn func(replay.Reading) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read readings: %w", err)
	}
	defer f.Close()
	if err := replay.Read(f, replay.FormatOf(path), fn); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// trainingRows replays the training readings through the model's plan.
func trainingRows(path string, man *modelpkg.Manifest) ([][]float32, error) {
	plan, err := man.Plan()
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	x, err := replay.NewExporter(plan, man.Window)
	if err != nil {
		return nil, fmt.Errorf("window: %w", err)
	}
	var rows [][]float32
	err = readReadings(path, func(r replay.Reading) error {
		row, ok, err := x.Push(r)
		if ok {
			rows = append(rows, row.Features)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: %d readings gave no feature row (%d without any of the model's sensors, %d out of order); check the sensor names and the window",
			path, x.Counts.Readings, x.Counts.NoValues, x.Counts.OutOfOrder)
	}
	return rows, nil
}

// recordSamples sets man.Samples to the given inputs, else up to
// maxAutoSamples training rows spread over the data, else the feature
// means, with the outputs ONNX Runtime computes for them.
func recordSamples(onnx []byte, man *modelpkg.Manifest, given, rows [][]float32) error {
	inputs := given
	switch {
	case len(inputs) > 0:
	case len(rows) > 0:
		step := max(1, len(rows)/maxAutoSamples)
		for i := 0; i < len(rows) && len(inputs) < maxAutoSamples; i += step {
			inputs = append(inputs, rows[i])
		}
	default:
		inputs = [][]float32{make([]float32, man.InputWidth())} // window inputs: the normalised means
		if man.InputKind != modelpkg.InputWindow {
			inputs[0] = man.Imputation()
		}
	}
	outs, err := inference.Evaluate(onnx, man, inputs)
	if err != nil {
		return err
	}
	man.Samples = man.Samples[:0]
	for i, in := range inputs {
		for j, v := range outs[i] {
			if v-v != 0 {
				return fmt.Errorf("samples[%d]: ONNX Runtime gives output[%d] = %g for input %v; a model must give finite outputs", i, j, v, in)
			}
		}
		man.Samples = append(man.Samples, modelpkg.Sample{Input: in, Output: outs[i]})
	}
	return nil
}

// signWithKeyFile signs pkg with the private key in path (edgepm keygen).
func signWithKeyFile(pkg *modelpkg.Package, path string) error {
	priv, err := modelpkg.ReadPrivateKey(path)
	if err != nil {
		return err
	}
	return modelpkg.Sign(pkg, priv)
}
