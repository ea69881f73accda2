package inference

import (
	"fmt"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// CheckPackage runs every check Engine.Load runs on pkg (manifest, feature
// spec, sha256, targeting for cfg.Gateway, the ONNX Runtime session, input
// and output, the warm-up run and the samples) without serving it, and
// returns the decoded manifest or the *modelpkg.RejectError of the first
// failed check. The signature policy is not applied (see modelpkg.Policy).
// InitRuntime must have been called. It blocks while ONNX Runtime loads
// the graph; safe for concurrent use.
func CheckPackage(pkg *modelpkg.Package, cfg EngineConfig) (*modelpkg.Manifest, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("check model package: %w", err)
	}
	e := &Engine{cfg: cfg}
	m, err := e.prepare(pkg)
	if err != nil {
		return nil, err
	}
	m.free()
	return m.man, nil
}

// Evaluate checks onnx's input and output against man (as Engine.Load
// does; man's samples are not used and need not be valid yet) and returns
// the model's outputs for each row of inputs (man.InputWidth() values
// each): what a package builder records as the samples. Outputs that are
// not finite are returned as they are. InitRuntime must have been called;
// safe for concurrent use.
func Evaluate(onnx []byte, man *modelpkg.Manifest, inputs [][]float32) ([][]float32, error) {
	if !runtimeReady() {
		return nil, ErrNotInitialized
	}
	k, rerr := checkGraph(onnx, man)
	if rerr != nil {
		rerr.Model = man.ID()
		return nil, rerr
	}
	f := man.InputWidth()
	for i, in := range inputs {
		if len(in) != f {
			return nil, fmt.Errorf("evaluate %s: row %d has %d values for an input of %d", man.ID(), i, len(in), f)
		}
	}
	const batch = 64
	sc, err := newScorer(onnx, man.InputName, man.OutputName, man.InputShape(), k, batch, EngineConfig{}.withDefaults().Session)
	if err != nil {
		return nil, fmt.Errorf("evaluate %s: create session: %w", man.ID(), err)
	}
	defer sc.destroy()
	outs := make([][]float32, 0, len(inputs))
	for start := 0; start < len(inputs); start += batch {
		rows := inputs[start:min(len(inputs), start+batch)]
		buf := sc.input(len(rows))
		for i, in := range rows {
			copy(buf[i*f:], in)
		}
		o, err := sc.run(len(rows))
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: run rows %d-%d: %w", man.ID(), start, start+len(rows)-1, err)
		}
		for i := range rows {
			outs = append(outs, append([]float32(nil), o[i*k:(i+1)*k]...))
		}
	}
	return outs, nil
}
