package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/internal/testenv"
)

// TestSystemdUnitVerifies runs systemd-analyze verify on the shipped unit,
// pointed at the freshly built binary.
func TestSystemdUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Missing(t, "systemd-analyze (Debian package systemd)")
	}
	unit, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "systemd", "edgepm.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=edgepm", "DynamicUser=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	path := filepath.Join(t.TempDir(), "edgepm.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/edgepm", edgepmBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestNoDevOnlyCodeInProductionBinaries: the appliance and the simulator
// never link the dev/test-only brokers and helpers.
func TestNoDevOnlyCodeInProductionBinaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/edgepm/edgepm/cmd/edgepm", "github.com/edgepm/edgepm/cmd/firmware-sim").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"franz-go/pkg/kfake", "mochi-mqtt", "internal/testenv", "internal/devstack", "go.uber.org/goleak"} {
			if strings.Contains(dep, bad) {
				t.Errorf("production binary links dev-only %s", dep)
			}
		}
	}
}
