package inference

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// prepare validates pkg in the order documented on Engine.Load and returns a
// warmed-up model, or a *modelpkg.RejectError naming the first failed check.
func (e *Engine) prepare(pkg *modelpkg.Package) (*model, error) {
	if pkg == nil {
		return nil, reject("?", modelpkg.ReasonManifest, nil, "nil package")
	}
	man, err := modelpkg.DecodeManifest(pkg.Manifest)
	if err != nil {
		var se *modelpkg.SpecError
		if errors.As(err, &se) {
			return nil, reject(modelpkg.ManifestID(pkg.Manifest), modelpkg.ReasonFeatureSpec, err, "invalid feature spec")
		}
		return nil, reject(modelpkg.ManifestID(pkg.Manifest), modelpkg.ReasonManifest, err, "invalid manifest")
	}
	id := man.ID()
	if got := modelpkg.SHA256Hex(pkg.ONNX); got != man.ONNXSHA256 {
		return nil, reject(id, modelpkg.ReasonSHA256, nil, "onnx sha256 is %s, manifest says %s", got, man.ONNXSHA256)
	}
	if !man.Targeting.Targets(e.cfg.Gateway) {
		return nil, reject(id, modelpkg.ReasonTargeting, nil, "gateway %q not in %v", e.cfg.Gateway, man.Targeting.Gateways)
	}
	plan, err := man.Plan()
	if err != nil {
		return nil, reject(id, modelpkg.ReasonFeatureSpec, err, "invalid feature spec")
	}
	if !runtimeReady() {
		return nil, reject(id, modelpkg.ReasonONNXLoad, ErrNotInitialized, "cannot load graph")
	}
	k, rerr := checkGraph(pkg.ONNX, man)
	if rerr != nil {
		rerr.Model = id
		return nil, rerr
	}
	sc, err := newScorer(pkg.ONNX, man.InputName, man.OutputName, man.InputShape(), k, e.cfg.MaxBatch, e.cfg.Session)
	if err != nil {
		return nil, reject(id, modelpkg.ReasonONNXLoad, err, "create session")
	}
	if rerr := warmUp(sc, man); rerr != nil {
		sc.destroy()
		rerr.Model = id
		return nil, rerr
	}
	m := &model{man: man, id: id, plan: plan, window: man.Window.WithDefaults(), sc: sc, loaded: e.cfg.Now(),
		feats: newFeatArena(plan.Len(), sc.maxRows())}
	if man.InputKind != modelpkg.InputWindow { // a window input's stats are per sensor: no drift statistics
		m.drift.initHists(man.FeatureStats)
	}
	return m, nil
}

// checkGraph loads the graph once to read its inputs and outputs and checks
// them against the manifest, naming both sides of a mismatch. It returns
// the output width K.
func checkGraph(onnx []byte, man *modelpkg.Manifest) (int, *modelpkg.RejectError) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(onnx)
	if err != nil {
		return 0, reject("", modelpkg.ReasonONNXLoad, err, "onnx runtime cannot load the graph")
	}
	if len(ins) != 1 || ins[0].Name != man.InputName {
		return 0, reject("", modelpkg.ReasonInputName, nil, "ONNX inputs are %s, manifest input_name declares exactly one input %q", ioNames(ins), man.InputName)
	}
	if rerr := checkInput(ins[0], man); rerr != nil {
		return 0, rerr
	}
	for _, o := range outs {
		if o.Name == man.OutputName {
			return checkOutput(o, man.OutputIndex)
		}
	}
	return 0, reject("", modelpkg.ReasonMissingOutput, nil, "ONNX outputs are %s, manifest output_name declares %q", ioNames(outs), man.OutputName)
}

// checkInput checks the input is a float32 tensor of the manifest's row
// shape ([N, F], or [N, T, S] for a window input) with a dynamic N.
func checkInput(in ort.InputOutputInfo, man *modelpkg.Manifest) *modelpkg.RejectError {
	if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat {
		return reject("", modelpkg.ReasonInputType, nil, "ONNX input %q is %s, manifest needs a float32 tensor", in.Name, in.String())
	}
	d, row := in.Dimensions, man.InputShape()
	switch {
	case len(d) == len(row)+1 && slices.Min(append([]int64{1}, d[1:]...)) <= 0:
		return reject("", modelpkg.ReasonInputShape, nil, "ONNX input %q has shape %s with a dynamic axis after the batch axis, unsupported: manifest declares %s; export with only axis 0 dynamic", in.Name, shapeString(d), declared(man))
	case len(d) != len(row)+1 || !slices.Equal(d[1:], row):
		return reject("", modelpkg.ReasonInputShape, nil, "ONNX input %q has shape %s, manifest declares %s", in.Name, shapeString(d), declared(man))
	case d[0] > 0:
		return reject("", modelpkg.ReasonInputShape, nil, "ONNX input %q has a fixed batch axis %s; edgepm needs a dynamic one (torch.onnx.export dynamic_axes={%q: {0: \"N\"}})", in.Name, shapeString(d), in.Name)
	}
	return nil
}

// checkOutput checks the output is a float32 [N, K] tensor with K > index
// and returns K.
func checkOutput(o ort.InputOutputInfo, index int) (int, *modelpkg.RejectError) {
	d := o.Dimensions
	if o.OrtValueType != ort.ONNXTypeTensor || o.DataType != ort.TensorElementDataTypeFloat ||
		len(d) != 2 || d[0] > 0 || d[1] < 1 {
		return 0, reject("", modelpkg.ReasonOutputShape, nil, "ONNX output %q is %s, manifest needs float32 [N, K] with a dynamic N", o.Name, o.String())
	}
	if int64(index) >= d[1] {
		return 0, reject("", modelpkg.ReasonOutputShape, nil, "ONNX output %q has shape %s, manifest output_index %d needs at least %d columns", o.Name, shapeString(d), index, index+1)
	}
	return int(d[1]), nil
}

// declared says what input shape the manifest declares, in its words.
func declared(man *modelpkg.Manifest) string {
	if man.InputKind == modelpkg.InputWindow {
		t := man.Window.WithDefaults().Size
		return fmt.Sprintf("a window of %d readings of %d sensors ([N, %d, %d])", t, len(man.Sensors), t, len(man.Sensors))
	}
	return fmt.Sprintf("%d features ([N, %d])", len(man.Features), len(man.Features))
}

// shapeString writes a shape as [N, 32], with N for a dynamic axis.
func shapeString(d []int64) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = "N"
		if x > 0 {
			parts[i] = strconv.FormatInt(x, 10)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func ioNames(infos []ort.InputOutputInfo) []string {
	names := make([]string, len(infos))
	for i, x := range infos {
		names[i] = x.Name
	}
	return names
}

// warmUp runs a full-size batch (allocating ORT's buffers before serving)
// and then the manifest's samples, comparing outputs within tolerance.
func warmUp(sc *scorer, man *modelpkg.Manifest) *modelpkg.RejectError {
	clear(sc.input(sc.maxRows()))
	if _, err := sc.run(sc.maxRows()); err != nil {
		return reject("", modelpkg.ReasonWarmup, err, "warm-up run of %d rows failed", sc.maxRows())
	}
	tol := man.Tolerance
	if tol == 0 {
		tol = modelpkg.DefaultTolerance
	}
	for start := 0; start < len(man.Samples); start += sc.maxRows() {
		end := min(len(man.Samples), start+sc.maxRows())
		in := sc.input(end - start)
		for i, s := range man.Samples[start:end] {
			copy(in[i*sc.f:], s.Input)
		}
		out, err := sc.run(end - start)
		if err != nil {
			return reject("", modelpkg.ReasonWarmup, err, "sample run failed")
		}
		for i, s := range man.Samples[start:end] {
			if len(s.Output) != sc.k {
				return reject("", modelpkg.ReasonSampleMismatch, nil, "samples[%d]: expected %d outputs, model gives %d", start+i, len(s.Output), sc.k)
			}
			for j, want := range s.Output {
				got := out[i*sc.k+j]
				if d := math.Abs(float64(got - want)); !(d <= tol) {
					return reject("", modelpkg.ReasonSampleMismatch, nil, "samples[%d].output[%d]: got %g, want %g (tolerance %g)", start+i, j, got, want, tol)
				}
			}
		}
	}
	return nil
}
