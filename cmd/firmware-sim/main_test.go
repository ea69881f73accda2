package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

// Same seed and flags: byte-identical stdout, including faults and truth.
func TestStdoutReproducible(t *testing.T) {
	dir := t.TempDir()
	args := func(n string) []string {
		return []string{"--stdout", "--stdout-topics", "--rate", "0", "--count", "20000", "--machines", "50",
			"--classes", "pump,motor,fan,compressor", "--seed", "7", "--interval", "1m", "--quiet",
			"--fault-nan", "0.01", "--fault-malformed", "0.01", "--fault-duplicate", "0.01",
			"--fault-out-of-order", "0.01", "--fault-stuck", "0.001", "--oversize-bytes", "2000", "--fault-oversized", "0.001",
			"--truth-file", filepath.Join(dir, n)}
	}
	a, _, err := runCmd(t, args("a.jsonl")...)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := runCmd(t, args("b.jsonl")...)
	if a != b || strings.Count(a, "\n") != 20000 {
		t.Fatalf("outputs differ or wrong count (%d lines)", strings.Count(a, "\n"))
	}
	ta, _ := os.ReadFile(filepath.Join(dir, "a.jsonl"))
	tb, _ := os.ReadFile(filepath.Join(dir, "b.jsonl"))
	if !bytes.Equal(ta, tb) || len(ta) == 0 {
		t.Fatal("truth files differ")
	}
	// Without faults, the command writes exactly what the library produces.
	plain, _, err := runCmd(t, "--stdout", "--stdout-topics", "--rate", "0", "--count", "50", "--machines", "50",
		"--classes", "pump,motor,fan,compressor", "--seed", "7", "--interval", "1m", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := sim.NewPlant(sim.Config{Seed: 7, Machines: 50, Interval: time.Minute,
		Classes: []string{sim.ClassPump, sim.ClassMotor, sim.ClassFan, sim.ClassCompressor}})
	var want strings.Builder
	for _, r := range p.Step(time.Minute) {
		want.WriteString(sim.Topic("", "site1", "line1", r.Device, r.Class) + " " + string(sim.EncodePayload(r)) + "\n")
	}
	if plain != want.String() {
		t.Fatalf("command output differs from library:\n%.300s\n%.300s", plain, want.String())
	}
	c, _, _ := runCmd(t, append(args("c.jsonl"), "--seed", "8")...)
	if c == a {
		t.Fatal("different seed, same output")
	}
	t.Logf("sha256 %x", sha256.Sum256([]byte(a)))
}

func TestReplayStdout(t *testing.T) {
	dir := os.Getenv("EDGEPM_DATASETS")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(), "..", "shared", "datasets")
	}
	train := filepath.Join(dir, "cmapss", "train_FD001.txt")
	if _, err := os.Stat(train); err != nil {
		testenv.Missing(t, "datasets: %v", err)
	}
	out, _, err := runCmd(t, "--stdout", "--stdout-topics", "--rate", "0", "--quiet", "--replay-cmapss", train)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 20631 || !strings.HasPrefix(lines[0], "plant/site1/line1/engine-001/telemetry {") {
		t.Fatalf("%d lines, first %q", len(lines), lines[0])
	}
	var v struct{ Values map[string]float64 }
	_, payload, _ := strings.Cut(lines[0], " ")
	if err := json.Unmarshal([]byte(payload), &v); err != nil || v.Values["s2"] != 641.82 || len(v.Values) != 24 {
		t.Fatalf("%v %v", v, err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--classes", "boiler", "--stdout"}, {"--format", "xml", "--stdout"},
		{"--fault-nan", "2", "--stdout"}, {"--start", "yesterday", "--stdout"}, {"--bogus"},
		{"--first-machine", "-1", "--stdout"}, {"--add-machines", "-1", "--stdout"},
		{"--add-machines", "1", "--add-at", "-1h", "--stdout"}, {"--add-machines", "1", "--add-classes", "boiler", "--stdout"}} {
		if _, _, err := runCmd(t, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// score reads alerts and predictions from a Kafka-protocol broker.
func TestScoreCommand(t *testing.T) {
	seeds := testenv.StartKafka(t).Seeds()
	dir := t.TempDir()
	truth := filepath.Join(dir, "truth.jsonl")
	lines := []string{
		`{"device":"pump-0000","class":"pump","ts":0,"seq":1,"health":1,"degrading":false,"failed":false,"rul_ms":36000000,"failure_at":36000000}`,
		`{"device":"pump-0000","class":"pump","ts":36000000,"seq":2,"health":0,"degrading":false,"failed":true,"rul_ms":0,"failure_at":36000000}`,
		`{"device":"pump-0000","class":"pump","ts":86400000,"seq":3,"health":1,"degrading":false,"failed":false,"rul_ms":999999999,"failure_at":1086400000}`,
	}
	os.WriteFile(truth, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := []*kgo.Record{
		{Topic: "edgepm.alerts", Value: []byte(`{"device":"pump-0000","ts":30000000,"state":"raised","score":0.9}`)},
		{Topic: "edgepm.predictions", Value: []byte(`{"device":"pump-0000","window_end":30000000,"score":0.9}`)},
		{Topic: "edgepm.predictions", Value: []byte(`not json`)},
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, "score", "--brokers", strings.Join(seeds, ","), "--truth", truth, "--horizon", "24h",
		"--threshold", "0.5", "--idle", "1s")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"read 1 alerts, 1 predictions (1 unparsable records); truth: 1 failures on 1 devices",
		"precision 1.000  recall 1.000", "lead time p10 1h40m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
