package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// dependency is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips t because a dependency is missing, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("missing dependency (CI=true, so this fails instead of skipping): "+format, args...)
	}
	t.Skipf("missing dependency: "+format, args...)
}

// RepoRoot returns the repository root (the folder holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ONNXRuntimeLib returns the path of libonnxruntime.so.1: $ONNXRUNTIME_LIB if
// set, else the project-local copy that `make onnxruntime` installs.
func ONNXRuntimeLib(t testing.TB) string {
	t.Helper()
	p := os.Getenv("ONNXRUNTIME_LIB")
	if p == "" {
		p = filepath.Join(RepoRoot(), ".local", "lib", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(p); err != nil {
		Missing(t, "ONNX Runtime library %s: %v (run `make onnxruntime` or set ONNXRUNTIME_LIB)", p, err)
	}
	return p
}

// DatasetsDir returns ../shared/datasets beside the repository, or
// $EDGEPM_DATASETS.
func DatasetsDir(t testing.TB) string {
	t.Helper()
	p := os.Getenv("EDGEPM_DATASETS")
	if p == "" {
		p = filepath.Join(RepoRoot(), "..", "shared", "datasets")
	}
	if _, err := os.Stat(p); err != nil {
		Missing(t, "datasets folder %s: %v (set EDGEPM_DATASETS)", p, err)
	}
	return p
}
