package modelpkg

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Reasons a model package is rejected (RejectError.Reason). They are the
// label values of edgepm_inference_model_loads_total and
// edgepm_model_deploys_total and the "reason" of model.rejected events, so
// they never change meaning.
//
// Checks of the package itself (this package, the signature policy and the
// inference engine):
const (
	ReasonManifest       = "manifest"        // manifest missing, not JSON, or invalid
	ReasonSignature      = "signature"       // signature missing or not valid for any configured key
	ReasonSHA256         = "sha256"          // ONNX bytes do not match manifest.onnx_sha256
	ReasonFeatureSpec    = "feature_spec"    // unknown statistic, bad parameters or window
	ReasonTargeting      = "targeting"       // model not targeted at this gateway
	ReasonONNXLoad       = "onnx_load"       // ONNX Runtime cannot load the graph
	ReasonInputName      = "input_name"      // graph has no input with the manifest's name (or more than one input)
	ReasonInputType      = "input_type"      // input is not a float32 tensor
	ReasonInputShape     = "input_shape"     // input is not [N, len(features)]
	ReasonMissingOutput  = "missing_output"  // graph has no output with the manifest's name
	ReasonOutputShape    = "output_shape"    // output is not a float32 [N, K] tensor
	ReasonWarmup         = "warmup"          // the warm-up run failed
	ReasonSampleMismatch = "sample_mismatch" // a sample input did not give its expected output
	ReasonShadowInput    = "shadow_input"    // a shadow model does not read the served model's input (kind, window, sensors, features)
)

// Checks of the delivery over the models topic (the bridge's model watcher,
// docs/formats/model-delivery.md):
const (
	ReasonEnvelope     = "envelope"      // the pointer's envelope does not decode or names another model
	ReasonSize         = "size"          // declared ONNX size above the staging limit
	ReasonChunkMissing = "chunk_missing" // a staged chunk could not be read back
	ReasonChunkSHA256  = "chunk_sha256"  // a chunk does not match its digest in the envelope
	ReasonStore        = "store"         // the package could not be written to the model store
	ReasonRelease      = "release"       // the pointer's release is unsigned, signed by an unknown key, or replays an older counter
)

// RejectError says why a model package was not accepted. Whoever rejected
// it leaves the previously active model serving.
type RejectError struct {
	Model  string // "name:version" as far as known
	Reason string // one of the Reason* constants
	Detail string // human-readable specifics
	Err    error  // underlying error, may be nil
}

func (e *RejectError) Error() string {
	s := fmt.Sprintf("reject model %s: %s: %s", e.Model, e.Reason, e.Detail)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *RejectError) Unwrap() error { return e.Err }

// Reject returns a *RejectError for model ("name:version") with the detail
// formatted from format and args.
func Reject(model, reason string, err error, format string, args ...any) *RejectError {
	return &RejectError{Model: model, Reason: reason, Detail: fmt.Sprintf(format, args...), Err: err}
}

// RejectReason returns the reason of a *RejectError in err's chain, or "".
func RejectReason(err error) string {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

// ManifestID extracts "name:version" from manifest bytes that may not
// validate, for error messages ("?" when there is no name).
func ManifestID(b []byte) string {
	var m struct{ Name, Version string }
	if err := json.Unmarshal(b, &m); err != nil || m.Name == "" {
		return "?"
	}
	return m.Name + ":" + m.Version
}
