package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/inference/replay"
)

const featuresUsage = `usage:
  edgepm features export --spec SPEC --in readings.jsonl|readings.csv --out rows.csv [--train readings]
SPEC is a model spec (YAML, as for model build), a manifest.json or a package directory.
A package's feature_stats normalise window inputs and fill missing features; a spec without
them gets them from --train (default: --in) exactly as model build --train computes them.
`

func cmdFeatures(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, featuresUsage)
		return 0
	}
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprint(stderr, featuresUsage)
		return 2
	}
	fs := flag.NewFlagSet("features export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	specPath := fs.String("spec", "", "model spec (YAML), manifest.json or package directory")
	in := fs.String("in", "", "readings: JSON lines as consumed from edgepm.readings, or CSV (device,ts,SENSOR...)")
	out := fs.String("out", "", "feature rows CSV to write (- for stdout)")
	train := fs.String("train", "", "training readings for feature_stats when SPEC has none (default: --in)")
	if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	if *specPath == "" || *in == "" || *out == "" {
		fmt.Fprint(stderr, "edgepm features export: --spec, --in and --out are required\n"+featuresUsage)
		return 2
	}
	if *train == "" {
		*train = *in
	}
	counts, err := exportFeatures(*specPath, *in, *out, *train, stdout)
	if err != nil {
		return failModel(stderr, fmt.Errorf("features export: %w", err))
	}
	b, _ := json.Marshal(counts)
	fmt.Fprintf(stderr, "%s\n", b)
	return 0
}

// exportFeatures writes the rows of the readings in inPath to outPath and
// returns the counts.
func exportFeatures(specPath, inPath, outPath, train string, stdout io.Writer) (replay.Counts, error) {
	man, err := loadFeatureSpec(specPath)
	if err != nil {
		return replay.Counts{}, err
	}
	if man.FeatureStats == nil {
		if _, err := trainingStats(train, man); err != nil {
			return replay.Counts{}, err
		}
	}
	plan, err := man.Plan()
	if err != nil {
		return replay.Counts{}, fmt.Errorf("%s: %w", specPath, err)
	}
	x, err := replay.NewExporter(plan, man.Window)
	if err != nil {
		return replay.Counts{}, fmt.Errorf("%s: %w", specPath, err)
	}
	src, err := os.Open(inPath)
	if err != nil {
		return replay.Counts{}, err
	}
	defer src.Close()
	dst, closeDst, err := createOut(outPath, stdout)
	if err != nil {
		return replay.Counts{}, err
	}
	rw, err := replay.NewRowWriter(dst, man.InputColumns())
	if err == nil {
		err = replay.Read(src, replay.FormatOf(inPath), func(r replay.Reading) error {
			row, ok, err := x.Push(r)
			if ok {
				err = rw.Write(row)
			}
			return err
		})
	}
	if err == nil {
		err = rw.Flush()
	}
	if cerr := closeDst(); err == nil {
		err = cerr
	}
	return x.Counts, err
}

// loadFeatureSpec reads the features, window and stats of a package
// directory, a manifest.json or a build spec.
func loadFeatureSpec(path string) (*modelpkg.Manifest, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, modelpkg.ManifestFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if filepath.Base(path) == modelpkg.ManifestFile {
		man, err := modelpkg.DecodeManifest(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return man, nil
	}
	spec, err := modelpkg.DecodeBuildSpec(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	man, err := spec.Manifest()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return man, nil
}

// createOut opens path for writing ("-" is stdout) and returns a close
// function that syncs a file.
func createOut(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() error {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}
