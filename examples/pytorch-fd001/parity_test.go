// Package fd001example holds the tests of the PyTorch FD001 example
// (README.md): the committed package validates, and what edgepm serves for
// test_FD001 equals the PyTorch model's own outputs.
package fd001example

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/inference/replay"
	"github.com/edgepm/edgepm/internal/testenv"
)

// TestServedEqualsPyTorch replays every cycle of test_FD001 as
// `firmware-sim --replay-cmapss` does through the serving feature code and
// ONNX Runtime with the committed package, and compares each prediction
// with PyTorch's output for that cycle (torch_test_pred.csv, written by
// train.py from the rows `edgepm features export` computed): within 1e-4.
func TestServedEqualsPyTorch(t *testing.T) {
	if err := inference.InitRuntime(testenv.ONNXRuntimeLib(t)); err != nil {
		t.Fatal(err)
	}
	pkg, err := modelpkg.LoadPackageDir("model")
	if err != nil {
		t.Fatal(err)
	}
	man, err := inference.CheckPackage(pkg, inference.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := readTorch(t, "torch_test_pred.csv")
	keys, windows := servedWindows(t, man)
	got, err := inference.Evaluate(pkg.ONNX, man, windows)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d served windows, %d PyTorch outputs", len(got), len(want))
	}
	worst := 0.0
	for i, k := range keys {
		w, ok := want[k]
		if !ok {
			t.Fatalf("no PyTorch output for %s", k)
		}
		d := math.Abs(float64(got[i][man.OutputIndex]) - w)
		worst = max(worst, d)
		if d > 1e-4 {
			t.Errorf("%s: edgepm %g, PyTorch %g", k, got[i][man.OutputIndex], w)
		}
	}
	t.Logf("%d windows, largest difference %.3g", len(keys), worst)
}

// servedWindows returns the input row of every cycle of test_FD001 as the
// gateway computes it, keyed "engine-001@31".
func servedWindows(t *testing.T, man *modelpkg.Manifest) ([]string, [][]float32) {
	t.Helper()
	fh, err := os.Open(filepath.Join(testenv.DatasetsDir(t), "cmapss", "test_FD001.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rows, err := sim.ReadCMAPSS(fh)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := sim.NewReplay(rows, sim.ReplayConfig{Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := man.Plan()
	if err != nil {
		t.Fatal(err)
	}
	x, err := replay.NewExporter(plan, man.Window)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var windows [][]float32
	for rs, ok := rp.Next(); ok; rs, ok = rp.Next() {
		for _, r := range rs {
			row, ok, err := x.Push(replay.Reading{Device: r.Device, Time: r.Time, Values: r.Values})
			if err != nil || !ok {
				t.Fatalf("%s cycle %d: no row (%v)", r.Device, r.Seq, err)
			}
			keys = append(keys, fmt.Sprintf("%s@%d", r.Device, r.Seq))
			windows = append(windows, row.Features)
		}
	}
	return keys, windows
}

func readTorch(t *testing.T, name string) map[string]float64 {
	t.Helper()
	fh, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64, len(recs))
	for _, r := range recs[1:] {
		v, err := strconv.ParseFloat(r[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[r[0]+"@"+r[1]] = v
	}
	return out
}
