package inference

import (
	"fmt"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

var ortState struct {
	mu   sync.Mutex
	path string
}

// InitRuntime loads the ONNX Runtime shared library once per process (the
// ORT environment is process-global). libPath "" means $ONNXRUNTIME_LIB. It
// is idempotent: later calls return nil, or an error when they name a
// different library than the one loaded. Safe for concurrent use.
func InitRuntime(libPath string) error {
	ortState.mu.Lock()
	defer ortState.mu.Unlock()
	if libPath == "" {
		libPath = os.Getenv("ONNXRUNTIME_LIB")
	}
	if ort.IsInitialized() {
		if libPath != "" && ortState.path != "" && libPath != ortState.path {
			return fmt.Errorf("init onnx runtime %s: already initialised with %s", libPath, ortState.path)
		}
		return nil
	}
	if libPath == "" {
		return ErrRuntimeMissing
	}
	if _, err := os.Stat(libPath); err != nil {
		return fmt.Errorf("init onnx runtime: %w (%w)", ErrRuntimeMissing, err)
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("init onnx runtime %s: %w", libPath, err)
	}
	ortState.path = libPath
	return nil
}

func runtimeReady() bool {
	ortState.mu.Lock()
	defer ortState.mu.Unlock()
	return ort.IsInitialized()
}
