package inference

import (
	"errors"

	"github.com/edgepm/edgepm/inference/modelpkg"
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

// Engine.Load rejects a package with a *modelpkg.RejectError whose Reason
// is one of modelpkg's Reason* constants (modelpkg owns the vocabulary;
// the checks that need ONNX Runtime are here, in validate.go).
var reject = modelpkg.Reject
