package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

func TestAUC(t *testing.T) {
	cases := []struct {
		s, y []float64
		want float64
	}{
		{[]float64{0.1, 0.2, 0.8, 0.9}, []float64{0, 0, 1, 1}, 1},
		{[]float64{0.9, 0.8, 0.2, 0.1}, []float64{0, 0, 1, 1}, 0},
		{[]float64{0.5, 0.5, 0.5, 0.5}, []float64{0, 1, 0, 1}, 0.5},
		{[]float64{0.1, 0.4, 0.35, 0.8}, []float64{0, 0, 1, 1}, 0.75},
	}
	for _, c := range cases {
		if got := auc(c.s, c.y); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("auc(%v, %v) = %v, want %v", c.s, c.y, got, c.want)
		}
	}
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
