package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/inference/replay"
	"github.com/edgepm/edgepm/internal/onnxgen"
	"github.com/edgepm/edgepm/internal/testenv"
)

// byomSpec is a build spec for a model over the 3 features below.
const byomSpec = `name: byom-test
version: 1.0.0
window: {kind: count, size: 5, hop: 1}
input:
  name: features
  features:
    - {sensor: temp, stat: mean}
    - {sensor: temp, stat: max}
    - {sensor: vib, stat: rms}
output: {name: score, index: 1, semantics: anomaly_score, alert: above}
thresholds: {raise: 3, clear: 2, min_duration: 0s}
`

// byomGraph returns a 3-input, 2-output linear graph (edited by the caller
// to make bad ones).
func byomGraph() *onnxgen.Model {
	return &onnxgen.Model{Name: "byom", InputName: "features", OutputName: "score", Producer: "test",
		Layers: []onnxgen.Dense{{W: [][]float32{{0.1, 0.2, 0.3}, {1, -1, 0.5}}, B: []float32{0, 0.25}}}}
}

// byomDir writes graph g as m.onnx, spec as spec.yaml and 40 readings of
// two devices (some without vib) as train.jsonl into a temp dir.
func byomDir(t *testing.T, g *onnxgen.Model, spec string) string {
	t.Helper()
	t.Setenv("ONNXRUNTIME_LIB", testenv.ONNXRuntimeLib(t))
	dir := t.TempDir()
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var readings bytes.Buffer
	for i := 0; i < 40; i++ {
		values := map[string]float64{"temp": 20 + float64(i%7), "vib": 0.5 + float64(i%3)/10}
		if i%9 == 4 {
			delete(values, "vib")
		}
		b, _ := json.Marshal(map[string]any{"v": 1, "gateway": "g", "device": fmt.Sprintf("d%d", i%2), "ts": 1000 * i, "received": 1000 * i, "values": values})
		readings.Write(append(b, '\n'))
	}
	for name, b := range map[string][]byte{"m.onnx": onnx, "spec.yaml": []byte(spec), "train.jsonl": readings.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runCmd(args ...string) (rc int, stdout, stderr string) {
	var out, errb bytes.Buffer
	rc = run(args, &out, &errb)
	return rc, out.String(), errb.String()
}

func TestModelBuildValidateSign(t *testing.T) {
	dir := byomDir(t, byomGraph(), byomSpec)
	pkgDir := filepath.Join(dir, "pkg")
	rc, out, errs := runCmd("model", "build", "--onnx", filepath.Join(dir, "m.onnx"), "--spec", filepath.Join(dir, "spec.yaml"),
		"--train", filepath.Join(dir, "train.jsonl"), "--out", pkgDir)
	if rc != 0 || !strings.Contains(out, "built byom-test:1.0.0") {
		t.Fatalf("build rc %d: %s %s", rc, out, errs)
	}
	pkg, err := modelpkg.LoadPackageDir(pkgDir)
	if err != nil {
		t.Fatal(err)
	}
	man, err := pkg.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if man.SchemaVersion != modelpkg.SchemaVersion3 || man.OutputIndex != 1 || man.AlertWhen != modelpkg.AlertAbove || len(man.Samples) == 0 {
		t.Fatalf("manifest: version %d index %d alert %q samples %d", man.SchemaVersion, man.OutputIndex, man.AlertWhen, len(man.Samples))
	}
	// feature_stats, histograms included (so version 3), are those of the
	// rows the gateway computes for the training readings (through the
	// same exporter, imputing 0 as the builder does before the stats
	// exist).
	plan, _ := features.NewPlan(man.Features, make([]float32, len(man.Features)))
	x, _ := replay.NewExporter(plan, man.Window)
	var rows [][]float32
	f, _ := os.Open(filepath.Join(dir, "train.jsonl"))
	defer f.Close()
	replay.Read(f, replay.FormatJSONL, func(r replay.Reading) error {
		row, ok, err := x.Push(r)
		if ok {
			rows = append(rows, row.Features)
		}
		return err
	})
	want, err := modelpkg.StatsOf(rows, man.StatNames())
	for j, h := range modelpkg.HistsOf(rows, len(want)) {
		want[j].Hist = h
	}
	if err != nil || !reflect.DeepEqual(want, man.FeatureStats) || want[0].Hist == nil {
		t.Fatalf("feature_stats %v, want %v (%v)", man.FeatureStats, want, err)
	}
	for i, s := range man.Samples { // outputs are the graph's
		got := onnxgen.Eval(byomGraph(), s.Input)
		for j := range got {
			if math.Abs(float64(got[j]-s.Output[j])) > 1e-5 {
				t.Errorf("samples[%d]: recorded %v, graph gives %v", i, s.Output, got)
			}
		}
	}

	if rc, out, errs := runCmd("model", "validate", pkgDir); rc != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("validate rc %d: %s %s", rc, out, errs)
	}
	key := filepath.Join(dir, "k")
	if rc, _, errs := runCmd("keygen", "--out", key); rc != 0 {
		t.Fatal(errs)
	}
	if rc, _, _ := runCmd("model", "validate", pkgDir, "--public-key", key+".pub"); rc != 1 {
		t.Fatalf("unsigned package validated against a public key: rc %d", rc)
	}
	if rc, out, errs := runCmd("model", "sign", pkgDir, "--key", key); rc != 0 || !strings.Contains(out, "signed") {
		t.Fatalf("sign rc %d: %s %s", rc, out, errs)
	}
	if rc, out, errs := runCmd("model", "validate", pkgDir, "--public-key", key+".pub"); rc != 0 || !strings.Contains(out, "signed true") {
		t.Fatalf("validate signed rc %d: %s %s", rc, out, errs)
	}
	if rc, _, errs := runCmd("model", "build", "--onnx", "x"); rc != 2 || !strings.Contains(errs, "required") {
		t.Fatalf("build without --spec: rc %d %s", rc, errs)
	}
}

// TestModelBuildRejects: each bad input of issue 18 fails the build with a
// message naming both sides, and writes no package.
func TestModelBuildRejects(t *testing.T) {
	fixedBatch, dynFeatures, intInput, wide := byomGraph(), byomGraph(), byomGraph(), byomGraph()
	fixedBatch.InputDims = []int64{1, 3}
	dynFeatures.InputDims = []int64{-1, -1}
	intInput.InputInt64 = true
	wide.Layers[0].W = [][]float32{{1, 2, 3, 4}, {1, 1, 1, 1}}
	cases := []struct {
		name, spec string
		g          *onnxgen.Model
		want       string
	}{
		{"shape", byomSpec, wide, `ONNX input "features" has shape [N, 4], manifest declares 3 features`},
		{"fixed batch", byomSpec, fixedBatch, `fixed batch axis [1, 3]`},
		{"dynamic feature axis", byomSpec, dynFeatures, `has shape [N, N] with a dynamic axis after the batch axis, unsupported: manifest declares 3 features`},
		{"targeted build", byomSpec + "targeting: {gateways: [gw-plant1-*]}\n", wide, `has shape [N, 4]`}, // targeting is not this machine's business: the graph check fails, not targeting
		{"int input", byomSpec, intInput, `input_type: ONNX input "features" is`},
		{"nan stats", byomSpec + "feature_stats: [{mean: .nan, std: 1}, {mean: 0, std: 1}, {mean: 0, std: 1}]\n", byomGraph(), "NaN or infinite"},
		{"output name", strings.Replace(byomSpec, "name: score", "name: scores", 1), byomGraph(), `ONNX outputs are [score], manifest output_name declares "scores"`},
		{"output index", strings.Replace(byomSpec, "index: 1", "index: 2", 1), byomGraph(), "output_index 2 needs at least 3 columns"},
		{"alert direction", strings.Replace(byomSpec, "alert: above", "alert: below", 1), byomGraph(), "anomaly_score alerts above"},
		{"unknown key", byomSpec + "thresold: 1\n", byomGraph(), `unknown field "thresold"`},
		{"wrong kind", strings.Replace(byomSpec, "size: 5", "size: five", 1), byomGraph(), "window.size: got a string, want a number"},
		{"unknown sensor stat", strings.Replace(byomSpec, "stat: rms", "stat: rmss", 1), byomGraph(), "rmss"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := byomDir(t, c.g, c.spec)
			pkgDir := filepath.Join(dir, "pkg")
			rc, _, errs := runCmd("model", "build", "--onnx", filepath.Join(dir, "m.onnx"), "--spec", filepath.Join(dir, "spec.yaml"),
				"--train", filepath.Join(dir, "train.jsonl"), "--out", pkgDir)
			if rc != 1 || !strings.Contains(errs, c.want) {
				t.Fatalf("rc %d, want 1 and %q in:\n%s", rc, c.want, errs)
			}
			if _, err := os.Stat(pkgDir); err == nil {
				t.Fatal("a package was written")
			}
		})
	}
}

// TestModelValidateRejects: a package edited after the build (no samples,
// a sample that ONNX Runtime does not reproduce) fails validate.
func TestModelValidateRejects(t *testing.T) {
	dir := byomDir(t, byomGraph(), byomSpec)
	pkgDir := filepath.Join(dir, "pkg")
	if rc, _, errs := runCmd("model", "build", "--onnx", filepath.Join(dir, "m.onnx"), "--spec", filepath.Join(dir, "spec.yaml"), "--out", pkgDir); rc != 0 {
		t.Fatal(errs)
	}
	good, err := os.ReadFile(filepath.Join(pkgDir, modelpkg.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	edit := func(f func()) []byte {
		json.Unmarshal(good, &m)
		f()
		b, _ := json.Marshal(m)
		return b
	}
	cases := map[string][]byte{
		"samples: at least one sample": edit(func() { m["samples"] = []any{} }),
		"sample_mismatch: samples[0].output[1]": edit(func() {
			m["samples"].([]any)[0].(map[string]any)["output"].([]any)[1] = 42.0
		}),
	}
	for want, b := range cases {
		os.WriteFile(filepath.Join(pkgDir, modelpkg.ManifestFile), b, 0o644)
		if rc, _, errs := runCmd("model", "validate", pkgDir); rc != 1 || !strings.Contains(errs, want) {
			t.Errorf("rc %d, want 1 and %q in:\n%s", rc, want, errs)
		}
	}
}

// TestModelPushRefusesInvalid: push checks the package as a gateway would
// and publishes nothing when it fails, unless --force.
func TestModelPushRefusesInvalid(t *testing.T) {
	dir := byomDir(t, byomGraph(), byomSpec)
	pkgDir := filepath.Join(dir, "pkg")
	if rc, _, errs := runCmd("model", "build", "--onnx", filepath.Join(dir, "m.onnx"), "--spec", filepath.Join(dir, "spec.yaml"), "--out", pkgDir); rc != 0 {
		t.Fatal(errs)
	}
	wide := byomGraph()
	wide.Layers[0].W = [][]float32{{1, 2, 3, 4}, {1, 1, 1, 1}}
	onnx, _ := onnxgen.Marshal(wide)
	pkg, _ := modelpkg.LoadPackageDir(pkgDir)
	man, _ := pkg.Decode()
	bad, err := modelpkg.NewPackage(man, onnx) // a consistent digest, a graph that does not fit
	if err != nil {
		t.Fatal(err)
	}
	badDir := filepath.Join(dir, "bad")
	if err := modelpkg.WritePackageDir(badDir, bad); err != nil {
		t.Fatal(err)
	}
	seeds := testenv.StartKafka(t).Seeds()
	rc, _, errs := runCmd("model", "push", "--dir", badDir, "--unsigned", "--brokers", seeds[0])
	if rc != 1 || !strings.Contains(errs, "nothing pushed") || !strings.Contains(errs, "has shape [N, 4]") {
		t.Fatalf("push of a bad package: rc %d: %s", rc, errs)
	}
	if _, out, _ := runCmd("model", "list", "--brokers", seeds[0], "--json"); strings.Contains(out, "byom-test") {
		t.Fatalf("a refused package reached the topic:\n%s", out)
	}
	if rc, out, errs := runCmd("model", "push", "--dir", pkgDir, "--brokers", seeds[0]); rc != 0 || !strings.Contains(out, "pushed byom-test:1.0.0") {
		t.Fatalf("push of a valid package: rc %d: %s %s", rc, out, errs)
	}
	if rc, out, errs := runCmd("model", "push", "--dir", badDir, "--force", "--brokers", seeds[0]); rc != 0 || !strings.Contains(out, "pushed") {
		t.Fatalf("push --force: rc %d: %s %s", rc, out, errs)
	}
}

const windowSpec = `name: byom-window
version: 1.0.0
window: {kind: count, size: 4, min_samples: 1, hop: 1}
input: {name: window, kind: window, sensors: [temp, vib]}
output: {name: rul, semantics: remaining_useful_life_cycles, alert: below}
thresholds: {raise: 20, clear: 30}
`

// TestModelBuildWindowAndExport: a window-input model builds with sensor
// stats from the training readings, and features export writes the rows
// it scores (T×S columns) and reports the skipped readings.
func TestModelBuildWindowAndExport(t *testing.T) {
	w := make([]float32, 8)
	for i := range w {
		w[i] = float32(i) * 0.1
	}
	g := &onnxgen.Model{Name: "win", InputName: "window", OutputName: "rul", Producer: "test",
		InputDims: []int64{-1, 4, 2}, FlattenInput: true, Layers: []onnxgen.Dense{{W: [][]float32{w}, B: []float32{50}}}}
	dir := byomDir(t, g, windowSpec)
	pkgDir := filepath.Join(dir, "pkg")
	rc, out, errs := runCmd("model", "build", "--onnx", filepath.Join(dir, "m.onnx"), "--spec", filepath.Join(dir, "spec.yaml"),
		"--train", filepath.Join(dir, "train.jsonl"), "--out", pkgDir)
	if rc != 0 {
		t.Fatalf("build rc %d: %s %s", rc, out, errs)
	}
	pkg, _ := modelpkg.LoadPackageDir(pkgDir)
	man, err := pkg.Decode()
	if err != nil || man.InputKind != modelpkg.InputWindow || len(man.FeatureStats) != 2 || man.FeatureStats[0].Mean != 22.875 {
		t.Fatalf("manifest %+v: %v", man, err) // temp is 20 + i%7 for i < 40: mean 20 + 115/40
	}
	rows := filepath.Join(dir, "rows.csv")
	rc, _, errs = runCmd("features", "export", "--spec", pkgDir, "--in", filepath.Join(dir, "train.jsonl"), "--out", rows)
	if rc != 0 || !strings.Contains(errs, `"readings":40,"rows":40,"missing_sensors":4`) {
		t.Fatalf("export rc %d: %s", rc, errs)
	}
	b, _ := os.ReadFile(rows)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 41 || lines[0] != "device,window_end,temp[-3],vib[-3],temp[-2],vib[-2],temp[-1],vib[-1],temp[0],vib[0]" {
		t.Fatalf("rows.csv: %d lines, header %s", len(lines), lines[0])
	}
	if rc, _, errs := runCmd("features", "export", "--spec", pkgDir, "--in", filepath.Join(dir, "missing.jsonl"), "--out", rows); rc != 1 || errs == "" {
		t.Fatalf("export of a missing file: rc %d %s", rc, errs)
	}
	if rc, _, _ := runCmd("features"); rc != 2 {
		t.Fatalf("features without export: rc %d", rc)
	}
}

// TestModelBuildWarnsDenormalWeights: a model with denormal weights builds
// and validates (it is correct), and both commands say that it will score
// slowly and how to fix it; a model without them gets no warning.
func TestModelBuildWarnsDenormalWeights(t *testing.T) {
	g := byomGraph()
	g.Layers[0].W[0][2] = 1e-40
	g.Layers[0].B[0] = -2e-39
	dir := byomDir(t, g, byomSpec)
	pkgDir := filepath.Join(dir, "pkg")
	const warning = "edgepm: warning: model byom-test:1.0.0: 2 of the model's 8 weights are denormal"
	rc, out, errs := runCmd("model", "build", "--onnx", filepath.Join(dir, "m.onnx"), "--spec", filepath.Join(dir, "spec.yaml"),
		"--train", filepath.Join(dir, "train.jsonl"), "--out", pkgDir)
	if rc != 0 || !strings.Contains(errs, warning) {
		t.Fatalf("build rc %d: %s %s", rc, out, errs)
	}
	if rc, out, errs := runCmd("model", "validate", pkgDir); rc != 0 || !strings.Contains(errs, warning) || !strings.Contains(out, "valid") {
		t.Fatalf("validate rc %d: %s %s", rc, out, errs)
	}
	clean := byomDir(t, byomGraph(), byomSpec)
	if rc, _, errs := runCmd("model", "build", "--onnx", filepath.Join(clean, "m.onnx"), "--spec", filepath.Join(clean, "spec.yaml"),
		"--train", filepath.Join(clean, "train.jsonl"), "--out", filepath.Join(clean, "pkg")); rc != 0 || strings.Contains(errs, "denormal") {
		t.Fatalf("build of a clean model rc %d: %s", rc, errs)
	}
}
