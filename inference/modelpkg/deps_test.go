package modelpkg

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoCgo: modelpkg is a leaf without cgo. Neither it nor anything it
// imports (the standard library included) has cgo files, so the bridge and
// the operator tools can use it without ONNX Runtime.
func TestNoCgo(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{len .CgoFiles}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], "github.com/edgepm/edgepm/inference/modelpkg ") {
		t.Fatalf("unexpected go list output:\n%s", out)
	}
	for _, l := range lines {
		path, n, _ := strings.Cut(l, " ")
		if n != "0" || strings.Contains(path, "onnxruntime") || path == "github.com/edgepm/edgepm/inference" {
			t.Errorf("modelpkg depends on %s (%s cgo files)", path, n)
		}
	}
}
