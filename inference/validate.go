package inference

import (
	"errors"
	"math"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/edgepm/edgepm/inference/features"
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
	plan, err := features.NewPlan(man.Features, man.Imputation())
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
	sc, err := newScorer(pkg.ONNX, man.InputName, man.OutputName, len(man.Features), k, e.cfg.MaxBatch, e.cfg.Session)
	if err != nil {
		return nil, reject(id, modelpkg.ReasonONNXLoad, err, "create session")
	}
	if rerr := warmUp(sc, man); rerr != nil {
		sc.destroy()
		rerr.Model = id
		return nil, rerr
	}
	return &model{man: man, id: id, plan: plan, window: man.Window.WithDefaults(), sc: sc, loaded: e.cfg.Now(),
		feats: newFeatArena(plan.Len(), sc.maxRows())}, nil
}

// checkGraph loads the graph once to read its inputs and outputs and checks
// them against the manifest. It returns the output width K.
func checkGraph(onnx []byte, man *modelpkg.Manifest) (int, *modelpkg.RejectError) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(onnx)
	if err != nil {
		return 0, reject("", modelpkg.ReasonONNXLoad, err, "onnx runtime cannot load the graph")
	}
	if len(ins) != 1 || ins[0].Name != man.InputName {
		return 0, reject("", modelpkg.ReasonInputName, nil, "graph inputs %s, manifest wants exactly one input %q", ioNames(ins), man.InputName)
	}
	in := ins[0]
	if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat {
		return 0, reject("", modelpkg.ReasonInputType, nil, "input %q is %s, want a float32 tensor", in.Name, in.String())
	}
	if len(in.Dimensions) != 2 || in.Dimensions[0] > 0 || in.Dimensions[1] != int64(len(man.Features)) {
		return 0, reject("", modelpkg.ReasonInputShape, nil, "input %q has shape %v, want [N, %d] with a dynamic batch dimension", in.Name, in.Dimensions, len(man.Features))
	}
	for _, o := range outs {
		if o.Name != man.OutputName {
			continue
		}
		if o.OrtValueType != ort.ONNXTypeTensor || o.DataType != ort.TensorElementDataTypeFloat ||
			len(o.Dimensions) != 2 || o.Dimensions[0] > 0 || o.Dimensions[1] < 1 {
			return 0, reject("", modelpkg.ReasonOutputShape, nil, "output %q is %s, want float32 [N, K]", o.Name, o.String())
		}
		return int(o.Dimensions[1]), nil
	}
	return 0, reject("", modelpkg.ReasonMissingOutput, nil, "graph outputs %s, manifest wants %q", ioNames(outs), man.OutputName)
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
