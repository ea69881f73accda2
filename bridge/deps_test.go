package bridge

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBridgeDoesNotLinkONNXRuntime: the bridge (and so the operator's
// model commands' Kafka side) must build without cgo ONNX Runtime; the
// model package it needs is inference/modelpkg. Fails if any import path
// brings github.com/yalue/onnxruntime_go (or the cgo inference engine) back.
func TestBridgeDoesNotLinkONNXRuntime(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/edgepm/edgepm/inference/modelpkg") {
		t.Fatalf("go list -deps does not list inference/modelpkg; the check below would prove nothing:\n%s", out)
	}
	for _, d := range deps {
		if strings.Contains(d, "onnxruntime") || d == "github.com/edgepm/edgepm/inference" {
			t.Errorf("bridge depends on %s (go list -deps ./bridge | grep onnxruntime must print nothing)", d)
		}
	}
}
