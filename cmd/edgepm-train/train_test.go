package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// evaluate counts precision and recall at the threshold (AUC: internal/evaluate).
func TestEvaluateAtThreshold(t *testing.T) {
	m := evaluate([]float64{0.9, 0.9, 0.1, 0.6}, []float64{1, 0, 1, 0}, 0.8)
	if m.Precision != 0.5 || m.Recall != 0.5 || m.Positives != 2 {
		t.Errorf("evaluate = %+v", m)
	}
}

// TestTrainDeterministic trains a small model twice and checks the package
// bytes are identical and valid.
func TestTrainDeterministic(t *testing.T) {
	o := defaultOptions()
	o.Data.Machines, o.Data.Days, o.Train.Epochs = 10, 40, 3
	var pkgs [][]byte
	for i := 0; i < 2; i++ {
		o.Out = filepath.Join(t.TempDir(), "pkg")
		res, err := run(o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Test.Rows == 0 || res.Train.Rows == 0 {
			t.Fatalf("no data: %+v", res)
		}
		pkg, err := modelpkg.LoadPackageDir(o.Out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pkg.Decode(); err != nil {
			t.Fatal(err)
		}
		m, _ := os.ReadFile(filepath.Join(o.Out, "manifest.json"))
		pkgs = append(pkgs, append(m, pkg.ONNX...))
	}
	if !bytes.Equal(pkgs[0], pkgs[1]) {
		t.Fatal("two runs wrote different bytes")
	}
}
