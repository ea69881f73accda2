package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/edgepm/edgepm/models"
)

func TestRolloutCommandsNeedKey(t *testing.T) {
	for _, args := range [][]string{
		{"model", "promote", "m"}, {"model", "abort", "m"}, {"model", "shadow", "m", "2"},
		{"model", "push", "--dir", "x", "--canary", "2"}, {"fleet-rollouts", "watch"},
	} {
		var rc int
		var errs string
		if args[0] == "fleet-rollouts" {
			rc, _, errs = runFleetRollouts(args[1:]...)
		} else {
			rc, _, errs = runCmd(args...)
		}
		if rc != 2 || !strings.Contains(errs, "--key KEYFILE is required") {
			t.Errorf("%v: rc %d, %s", args, rc, errs)
		}
	}
}

func runFleetRollouts(args ...string) (int, string, string) {
	var out, errb strings.Builder
	rc := cmdFleetRollouts(context.Background(), args, &out, &errb)
	return rc, out.String(), errb.String()
}

// writeVersion writes the default model's manifest with version set and
// returns the push arguments for it; mutate changes the manifest first.
func writeVersion(t *testing.T, dir, version string, mutate ...func(map[string]any)) []string {
	t.Helper()
	mb, onnx := models.Default()
	var m map[string]any
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	m["version"] = version
	for _, f := range mutate {
		f(m)
	}
	b, _ := json.Marshal(m)
	manPath := filepath.Join(dir, "m-"+version+".json")
	onnxPath := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(manPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(onnxPath, onnx, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"model", "push", "--file", onnxPath, "--manifest", manPath, "--chunk-size", "4096"}
}

func heartbeat(t *testing.T, seeds []string, gw string) {
	t.Helper()
	hb := wire.Heartbeat{V: wire.HeartbeatSchema, Gateway: gw, TS: time.Now().UTC(), IntervalSeconds: 30,
		Model: &wire.HeartbeatModel{Name: "edgepm-default", Version: "1.0.0", State: "active"}, Conditions: []string{}}
	r, err := wire.HeartbeatRecord(&hb)
	if err != nil {
		t.Fatal(err)
	}
	produceRaw(t, seeds, "edgepm.gateways", gw, r.Value)
}

func TestRolloutCommands(t *testing.T) {
	t.Setenv("ONNXRUNTIME_LIB", testenv.ONNXRuntimeLib(t))
	seeds := testenv.StartKafka(t).Seeds()
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	if rc, _, errs := runCmd("keygen", "--out", key); rc != 0 {
		t.Fatal(errs)
	}
	kafka := []string{"--brokers", seeds[0], "--key", key}
	must := func(want string, args ...string) string {
		t.Helper()
		var rc int
		var out, errs string
		if args[0] == "fleet-rollouts" {
			rc, out, errs = runFleetRollouts(args[1:]...)
		} else {
			rc, out, errs = runCmd(args...)
		}
		if rc != 0 || !strings.Contains(out, want) {
			t.Fatalf("%v: rc %d want %q in\n%s%s", args, rc, want, out, errs)
		}
		return out
	}
	must("pushed edgepm-default:1.0.0", append(writeVersion(t, dir, "1.0.0"), kafka...)...)
	createTopic(t, seeds, "edgepm.gateways")
	for _, gw := range []string{"gw-a", "gw-b", "gw-c", "gw-d"} {
		heartbeat(t, seeds, gw)
	}
	produceRaw(t, seeds, "edgepm.gateways", "gw-d", nil) // decommissioned: never picked
	out := must("canary edgepm-default:2.0.0 (stable 1.0.0", append(writeVersion(t, dir, "2.0.0"), append(kafka, "--canary", "2", "--auto", "--window", "1m")...)...)
	if strings.Contains(out, "gw-d") || strings.Count(strings.SplitN(out, " on ", 2)[1], "gw-") != 2 {
		t.Fatalf("canary picked: %s", out)
	}
	if rc, _, errs := runCmd(append(writeVersion(t, dir, "3.0.0"), append(kafka, "--canary", "1")...)...); rc != 1 || !strings.Contains(errs, "still in canary") {
		t.Fatalf("second canary while one is active: rc %d %s", rc, errs)
	}
	if rc, _, errs := runCmd(append(writeVersion(t, dir, "3.0.0"), append(kafka, "--canary", "1", "--min-agreement", "0.9")...)...); rc != 1 || !strings.Contains(errs, "applies to `edgepm model shadow`") {
		t.Fatalf("a canary with --min-agreement: rc %d %s", rc, errs)
	}
	list := []string{"fleet-rollouts", "list", "--brokers", seeds[0], "--public-key", key + ".pub"}
	must("canary", list...)
	must("promoted edgepm-default:2.0.0", append([]string{"model", "promote", "edgepm-default"}, kafka...)...)
	if rc, _, errs := runCmd(append([]string{"model", "abort", "edgepm-default"}, kafka...)...); rc != 1 || !strings.Contains(errs, "no active rollout") {
		t.Fatalf("abort after promotion: rc %d %s", rc, errs)
	}
	must("shadow edgepm-default:1.0.0 (stable 2.0.0", append([]string{"model", "shadow", "edgepm-default", "1.0.0", "--on", "gw-a"}, kafka...)...)
	must("aborted", append([]string{"model", "abort", "edgepm-default", "--reason", "too noisy"}, kafka...)...)
	must("too noisy", list...)
	must("now points at 1.0.0 (was 2.0.0; signed release", append([]string{"model", "rollback", "edgepm-default", "--to", "1.0.0"}, kafka...)...)
	var recs []struct {
		State   string
		History []struct{ State string }
	}
	if err := json.Unmarshal([]byte(must(`"rolled_back"`, append(list, "--json")...)), &recs); err != nil || len(recs) != 1 ||
		recs[0].State != "rolled_back" || len(recs[0].History) != 3 || recs[0].History[0].State != "shadow" {
		t.Fatalf("list --json after the rollback: %v %+v", err, recs)
	}
	if rc, _, errs := runFleetRollouts("list", "--brokers", seeds[0]); rc != 2 || !strings.Contains(errs, "no key to verify") {
		t.Fatalf("list without keys: rc %d %s", rc, errs)
	}
}

func createTopic(t *testing.T, seeds []string, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}
