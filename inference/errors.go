package inference

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by Engine methods after Close.
	ErrClosed = errors.New("inference: engine closed")
	// ErrRunning is returned by Run when another Run is already active.
	ErrRunning = errors.New("inference: engine already running")
	// ErrNotInitialized is returned when ONNX Runtime was not initialised
	// with InitRuntime before a model is loaded.
	ErrNotInitialized = errors.New("inference: onnx runtime not initialised (call InitRuntime)")
	// ErrRuntimeMissing is returned by InitRuntime when no library path was
	// given and none was found.
	ErrRuntimeMissing = errors.New("inference: libonnxruntime.so.1 not found: run `make onnxruntime` (scripts/fetch-onnxruntime.sh) or set ONNXRUNTIME_LIB")
)

// Reasons a model package is rejected (RejectError.Reason).
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
)

// RejectError is returned by Engine.Load when a package fails validation.
// The previously active model keeps serving.
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

// RejectReason returns the reason of a *RejectError in err's chain, or "".
func RejectReason(err error) string {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

func reject(model, reason string, err error, format string, args ...any) *RejectError {
	return &RejectError{Model: model, Reason: reason, Detail: fmt.Sprintf(format, args...), Err: err}
}
