package onnxgen

import (
	"fmt"
	"math"
)

// Activation is applied after a dense layer.
type Activation string

// Supported activations.
const (
	Linear  Activation = ""
	ReLU    Activation = "relu"
	Tanh    Activation = "tanh"
	Sigmoid Activation = "sigmoid"
)

// Dense is y = act(x·Wᵀ + B) with W of shape [Out][In].
type Dense struct {
	W   [][]float32
	B   []float32
	Act Activation
}

// Model describes the graph: out = layers(( x - Mean ) * InvStd).
type Model struct {
	Name            string // graph name
	InputName       string // e.g. "features"
	OutputName      string // e.g. "failure_probability"
	Producer        string // producer_name; version in ProducerVersion
	ProducerVersion string
	Doc             string
	Mean, InvStd    []float32 // optional standardisation (both nil or len F)
	Layers          []Dense
	Metadata        [][2]string // metadata_props key/value pairs, in order

	// For tests of what a gateway rejects: InputInt64 declares the input
	// int64 (a Cast to float feeds the layers); InputDims overrides the
	// declared input shape [-1, F] (-1: a symbolic axis). A sequence
	// model's input [-1, T, S] is given with InputDims and FlattenInput,
	// which feeds the layers Flatten(input) of T*S columns.
	InputInt64   bool
	InputDims    []int64
	FlattenInput bool
}

// Features returns the input width F of the first layer.
func (m *Model) Features() int {
	if len(m.Layers) == 0 || len(m.Layers[0].W) == 0 {
		return 0
	}
	return len(m.Layers[0].W[0])
}

// Outputs returns the output width K of the last layer.
func (m *Model) Outputs() int {
	if len(m.Layers) == 0 {
		return 0
	}
	return len(m.Layers[len(m.Layers)-1].W)
}

func (m *Model) validate() error {
	if m.InputName == "" || m.OutputName == "" {
		return fmt.Errorf("onnxgen: input and output names required")
	}
	if len(m.Layers) == 0 {
		return fmt.Errorf("onnxgen: no layers")
	}
	in := m.Features()
	if in == 0 {
		return fmt.Errorf("onnxgen: layer 0 has no inputs")
	}
	if (m.Mean == nil) != (m.InvStd == nil) || (m.Mean != nil && (len(m.Mean) != in || len(m.InvStd) != in)) {
		return fmt.Errorf("onnxgen: mean/inv_std need %d values", in)
	}
	for i, l := range m.Layers {
		if len(l.W) == 0 || len(l.B) != len(l.W) {
			return fmt.Errorf("onnxgen: layer %d: %d rows, %d biases", i, len(l.W), len(l.B))
		}
		for _, row := range l.W {
			if len(row) != in {
				return fmt.Errorf("onnxgen: layer %d: row width %d, want %d", i, len(row), in)
			}
			for _, v := range row {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("onnxgen: layer %d: non-finite weight", i)
				}
			}
		}
		switch l.Act {
		case Linear, ReLU, Tanh, Sigmoid:
		default:
			return fmt.Errorf("onnxgen: layer %d: unknown activation %q", i, l.Act)
		}
		in = len(l.W)
	}
	return nil
}

// Marshal returns the ONNX ModelProto bytes of m.
func Marshal(m *Model) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	var g buf
	cur := m.InputName
	var inits []buf
	if m.InputInt64 {
		g.msg(1, node("Cast", "cast", []string{cur}, []string{"input_float"}, attr{name: "to", i: elemFloat}))
		cur = "input_float"
	}
	if m.FlattenInput {
		g.msg(1, node("Flatten", "flatten", []string{cur}, []string{"input_flat"}, attr{name: "axis", i: 1}))
		cur = "input_flat"
	}
	if m.Mean != nil {
		f := int64(len(m.Mean))
		inits = append(inits, tensorProto("mean", []int64{f}, m.Mean), tensorProto("inv_std", []int64{f}, m.InvStd))
		g.msg(1, node("Sub", "center", []string{cur, "mean"}, []string{"centered"}))
		g.msg(1, node("Mul", "scale", []string{"centered", "inv_std"}, []string{"scaled"}))
		cur = "scaled"
	}
	for i, l := range m.Layers {
		w := fmt.Sprintf("W%d", i)
		b := fmt.Sprintf("B%d", i)
		inits = append(inits, tensorProto(w, []int64{int64(len(l.W)), int64(len(l.W[0]))}, flatten(l.W)),
			tensorProto(b, []int64{int64(len(l.B))}, l.B))
		out := fmt.Sprintf("gemm%d", i)
		last := i == len(m.Layers)-1
		if last && l.Act == Linear {
			out = m.OutputName
		}
		g.msg(1, node("Gemm", out, []string{cur, w, b}, []string{out}, attr{name: "transB", i: 1}))
		cur = out
		if l.Act != Linear {
			next := fmt.Sprintf("act%d", i)
			if last {
				next = m.OutputName
			}
			g.msg(1, node(opName(l.Act), next, []string{cur}, []string{next}))
			cur = next
		}
	}
	g.str(2, m.Name)
	for _, t := range inits {
		g.msg(5, t)
	}
	inDims, elem := []int64{-1, int64(m.Features())}, int64(elemFloat)
	if m.InputDims != nil {
		inDims = m.InputDims
	}
	if m.InputInt64 {
		elem = elemInt64
	}
	g.msg(11, typedValueInfo(m.InputName, elem, inDims, symbolNames(len(inDims))))
	g.msg(12, valueInfo(m.OutputName, []int64{-1, int64(m.Outputs())}, []string{"N", ""}))

	var mp buf
	mp.int(1, irVersion)
	mp.str(2, m.Producer)
	mp.str(3, m.ProducerVersion)
	if m.Doc != "" {
		mp.str(6, m.Doc)
	}
	mp.msg(7, g)
	var opset buf
	opset.str(1, "")
	opset.int(2, opsetOnnx13)
	mp.msg(8, opset)
	for _, kv := range m.Metadata {
		var e buf
		e.str(1, kv[0])
		e.str(2, kv[1])
		mp.msg(14, e)
	}
	return mp, nil
}

// symbolNames names the symbolic axes of an n-axis shape N, D1, D2...
func symbolNames(n int) []string {
	names := []string{"N"}
	for i := 1; i < n; i++ {
		names = append(names, fmt.Sprintf("D%d", i))
	}
	return names
}

func opName(a Activation) string {
	switch a {
	case ReLU:
		return "Relu"
	case Tanh:
		return "Tanh"
	}
	return "Sigmoid"
}

func flatten(w [][]float32) []float32 {
	out := make([]float32, 0, len(w)*len(w[0]))
	for _, r := range w {
		out = append(out, r...)
	}
	return out
}

// Eval computes the model in float32 arithmetic in Go for one row; it is the
// reference the trainer uses to write sample outputs and tests use to check
// ONNX Runtime. Results match ONNX Runtime to within float rounding.
func Eval(m *Model, x []float32) []float32 {
	cur := append([]float32(nil), x...)
	if m.Mean != nil {
		for i := range cur {
			cur[i] = (cur[i] - m.Mean[i]) * m.InvStd[i]
		}
	}
	for _, l := range m.Layers {
		next := make([]float32, len(l.W))
		for o, row := range l.W {
			var s float32
			for i, w := range row {
				s += cur[i] * w
			}
			next[o] = apply(l.Act, s+l.B[o])
		}
		cur = next
	}
	return cur
}

func apply(a Activation, v float32) float32 {
	switch a {
	case ReLU:
		return max(v, 0)
	case Tanh:
		return float32(math.Tanh(float64(v)))
	case Sigmoid:
		return float32(1 / (1 + math.Exp(-float64(v))))
	}
	return v
}
