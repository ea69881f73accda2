package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgepm/edgepm/edge"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/features"
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
	if err := fs.Parse(args); err != nil {
		return 2
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
	fmt.Fprintf(stdout, "built %s in %s: schema_version %d, %d features, %d samples, %d bytes of ONNX, signed %v\n",
		man.ID(), *out, man.SchemaVersion, len(man.Features), len(man.Samples), len(pkg.ONNX), pkg.Signature != nil)
	return 0
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
	if _, err := features.NewPlan(man.Features, nil); err != nil {
		return nil, nil, fmt.Errorf("%s: input.features: %w", specPath, err)
	}
	var rows [][]float32
	if train != "" {
		if rows, err = trainingRows(train, man); err != nil {
			return nil, nil, err
		}
		if man.FeatureStats == nil {
			if man.FeatureStats, err = modelpkg.StatsOf(rows, man.Features); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", train, err)
			}
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
	if _, err := inference.CheckPackage(pkg, inference.EngineConfig{}); err != nil {
		return nil, nil, err
	}
	return pkg, man, nil
}

// trainingRows replays the training readings through the model's features
// (with imputation as served once feature_stats are known: 0 until then).
func trainingRows(path string, man *modelpkg.Manifest) ([][]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read training readings: %w", err)
	}
	defer f.Close()
	plan, err := features.NewPlan(man.Features, man.Imputation())
	if err != nil {
		return nil, fmt.Errorf("input.features: %w", err)
	}
	x, err := replay.NewExporter(plan, man.Window)
	if err != nil {
		return nil, fmt.Errorf("window: %w", err)
	}
	var rows [][]float32
	err = replay.Read(f, replay.FormatOf(path), func(r replay.Reading) error {
		row, ok, err := x.Push(r)
		if ok {
			rows = append(rows, row.Features)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
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
		inputs = [][]float32{man.Imputation()}
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
	kb, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	priv, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(kb)))
	if err != nil || len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("key %s: not an edgepm keygen private key (base64 of %d bytes)", path, ed25519.PrivateKeySize)
	}
	return modelpkg.Sign(pkg, ed25519.PrivateKey(priv))
}
