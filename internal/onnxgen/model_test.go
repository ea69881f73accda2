package onnxgen

import (
	"bytes"
	"math"
	"testing"
)

func small() *Model {
	return &Model{Name: "g", InputName: "x", OutputName: "y", Producer: "test",
		Mean: []float32{1, 2}, InvStd: []float32{0.5, 2},
		Layers: []Dense{{W: [][]float32{{1, -1}, {0.5, 0.25}, {-2, 1}}, B: []float32{0, 1, -1}, Act: ReLU},
			{W: [][]float32{{1, 1, 1}}, B: []float32{0.1}, Act: Sigmoid}}}
}

func TestMarshalDeterministic(t *testing.T) {
	a, err := Marshal(small())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Marshal(small())
	if !bytes.Equal(a, b) || len(a) < 100 {
		t.Fatalf("not deterministic or too short (%d bytes)", len(a))
	}
	// ir_version 8 is the first field: tag 0x08, varint 8.
	if a[0] != 0x08 || a[1] != irVersion {
		t.Fatalf("header % x", a[:2])
	}
	for _, s := range []string{"Gemm", "Relu", "Sigmoid", "Sub", "Mul", "transB", "x", "y", "N"} {
		if !bytes.Contains(a, []byte(s)) {
			t.Errorf("missing %q", s)
		}
	}
}

func TestMarshalRejectsBadModels(t *testing.T) {
	bad := []func(*Model){
		func(m *Model) { m.InputName = "" },
		func(m *Model) { m.Layers = nil },
		func(m *Model) { m.Mean = m.Mean[:1] },
		func(m *Model) { m.InvStd = nil },
		func(m *Model) { m.Layers[0].B = m.Layers[0].B[:2] },
		func(m *Model) { m.Layers[1].W[0] = m.Layers[1].W[0][:2] },
		func(m *Model) { m.Layers[0].W[0][0] = float32(math.NaN()) },
		func(m *Model) { m.Layers[0].Act = "gelu" },
	}
	for i, edit := range bad {
		m := small()
		edit(m)
		if _, err := Marshal(m); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}

func TestEval(t *testing.T) {
	// z = ((3-1)*0.5, (1-2)*2) = (1, -2); h = relu(3, 0.5-0.5+1=1... )
	m := small()
	z := []float32{1, -2}
	h := []float32{max(z[0]-z[1], 0), max(0.5*z[0]+0.25*z[1]+1, 0), max(-2*z[0]+z[1]-1, 0)}
	want := float32(1 / (1 + math.Exp(-float64(h[0]+h[1]+h[2]+0.1))))
	if got := Eval(m, []float32{3, 1})[0]; math.Abs(float64(got-want)) > 1e-6 {
		t.Fatalf("Eval = %v, want %v", got, want)
	}
	if m.Features() != 2 || m.Outputs() != 1 {
		t.Fatal("Features/Outputs")
	}
}
