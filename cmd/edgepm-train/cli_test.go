package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestMain runs the command itself when the test binary is started with
// EDGEPM_TRAIN_ARGS (runCLI), so the tests can check what the flags do.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("EDGEPM_TRAIN_ARGS"); ok {
		os.Args = append([]string{"edgepm-train"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runCLI runs edgepm-train with args (no spaces inside one) and returns
// its output and exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "EDGEPM_TRAIN_ARGS="+strings.Join(args, " "))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// The command trains from Kafka with the default epochs (a flag default
// of 0 once trained an untrained network: AUC 0.5) and writes a package
// that separates the held-out devices.
func TestCLITrainFromKafka(t *testing.T) {
	seeds := testenv.StartKafka(t, kfake.DefaultNumPartitions(3)).Seeds()
	from, to := publishToKafka(t, seeds, 10, 30)
	out, code := runCLI(t, "--from-kafka", strings.Join(seeds, ","), "--from", from.Format(time.RFC3339),
		"--to", to.Format(time.RFC3339), "-out", filepath.Join(t.TempDir(), "pkg"), "--min-failures", "3", "--events-topic=")
	m := regexp.MustCompile(`held-out devices @ 0\.80: precision \S+ recall \S+ AUC (\S+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if auc, _ := strconv.ParseFloat(m[1], 64); auc < 0.85 {
		t.Fatalf("held-out AUC %.3f, want >= 0.85 (trained?):\n%s", auc, out)
	}
}

// A -pos-weight that is not a positive number, a -raise outside (0, 1), no
// hidden units: usage errors.
func TestCLIBadWeights(t *testing.T) {
	for _, c := range [][2]string{{"-pos-weight", "0"}, {"-pos-weight", "-1"}, {"-pos-weight", "NaN"},
		{"-raise", "1"}, {"-raise", "0"}, {"-raise", "NaN"}, {"-hidden", "0"}} {
		if out, code := runCLI(t, c[0], c[1]); code != 2 || !strings.Contains(out, c[0]+": must be") {
			t.Fatalf("%s %s: exit %d\n%s", c[0], c[1], code, out)
		}
	}
}
