package inference

import (
	"os"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/internal/onnxgen"
)

func TestScanWeights(t *testing.T) {
	g := &onnxgen.Model{Name: "w", InputName: "features", OutputName: "score", Producer: "test",
		Mean: []float32{0, 0, 0}, InvStd: []float32{1, 1, 1},
		Layers: []onnxgen.Dense{
			{W: [][]float32{{1, 1e-40, 0}, {-3e-39, 0.5, 1.2e-38}}, B: []float32{0, 1e-45}, Act: onnxgen.ReLU},
			{W: [][]float32{{2, -2}}, B: []float32{0}},
		}}
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ScanWeights(onnx)
	if err != nil {
		t.Fatal(err)
	}
	// 3 mean + 3 inv std + 6 + 2 + 2 + 1 weights; 1e-40, -3e-39 and 1e-45
	// are denormal, 0 and 1.2e-38 (just above the smallest normal) are not
	if s.Weights != 17 || s.Denormal != 3 {
		t.Fatalf("ScanWeights = %+v, want 17 weights, 3 denormal", s)
	}
	if w := s.DenormalWarning(); !strings.Contains(w, "3 of the model's 17 weights are denormal") {
		t.Fatalf("warning %q", w)
	}
	if w := (WeightStats{Weights: 5}).DenormalWarning(); w != "" {
		t.Fatalf("warning without denormals: %q", w)
	}
	if _, err := ScanWeights([]byte("not a model \xff\xff\xff")); err == nil {
		t.Fatal("garbage scanned without an error")
	}
}

// TestScanWeightsPyTorchExport reads the example's PyTorch export (raw_data
// initializers): every parameter is counted and none is denormal
// (train.py flushes them).
func TestScanWeightsPyTorchExport(t *testing.T) {
	onnx, err := os.ReadFile("../examples/pytorch-fd001/model/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ScanWeights(onnx)
	if err != nil {
		t.Fatal(err)
	}
	// Linear(200, 8), Linear(14*8, 64), Linear(64, 1): 8905 parameters,
	// and the constant 125 that scales the output to cycles
	if s.Weights != 8906 || s.Denormal != 0 {
		t.Fatalf("ScanWeights = %+v, want 8906 weights, 0 denormal", s)
	}
}
