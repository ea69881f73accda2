//go:build arm64e2e

package main

// The linux/arm64 release checked on an amd64 machine (make test-arm64):
// the cross-built edgepm runs under qemu-user against a native Mosquitto
// and kfake, and its scores are compared with the native build's on the
// same readings. scripts/test-arm64.sh builds the inputs and sets:
//
//	EDGEPM_ARM64_BIN   the cross-built edgepm (GOARCH=arm64, cgo)
//	EDGEPM_ARM64_ORT   libonnxruntime.so.1 for linux/arm64
//	EDGEPM_QEMU        qemu-aarch64 (default: from PATH)
//	QEMU_LD_PREFIX     the arm64 C library root (/usr/aarch64-linux-gnu)

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/testenv"
)

const (
	arm64Devices   = 10
	arm64PerDevice = 1000 // 10,000 readings in all
	scoreTolerance = 1e-5
)

// arm64Env is what scripts/test-arm64.sh hands the test.
type arm64Env struct {
	bin, ort, qemu string
}

func arm64FromEnv(t *testing.T) arm64Env {
	t.Helper()
	e := arm64Env{bin: os.Getenv("EDGEPM_ARM64_BIN"), ort: os.Getenv("EDGEPM_ARM64_ORT"), qemu: os.Getenv("EDGEPM_QEMU")}
	if e.qemu == "" {
		e.qemu = "qemu-aarch64"
	}
	for name, path := range map[string]string{"EDGEPM_ARM64_BIN": e.bin, "EDGEPM_ARM64_ORT": e.ort} {
		if path == "" {
			t.Fatalf("%s is not set: run make test-arm64", name)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if os.Getenv("QEMU_LD_PREFIX") == "" {
		t.Fatal("QEMU_LD_PREFIX is not set (the arm64 C library root, /usr/aarch64-linux-gnu on Debian)")
	}
	return e
}

// TestARM64 runs the arm64 build under emulation: its version, a 10,000
// reading QoS 1 end-to-end, and its scores against the amd64 build's.
func TestARM64(t *testing.T) {
	env := arm64FromEnv(t)
	out, err := exec.Command(env.qemu, env.bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "linux/arm64") {
		t.Fatalf("edgepm version under %s: %v\n%s", env.qemu, err, out)
	}
	t.Logf("under emulation: %s", strings.TrimSpace(string(out)))

	// One input for both builds: same devices, same readings, same times.
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	start := time.Now()
	arm := runReadings(t, "arm64", []string{env.qemu, env.bin}, env.ort, t0)
	t.Logf("arm64 under qemu: %d readings, %d predictions in Kafka (%s)", arm.readings, len(arm.preds), time.Since(start).Round(time.Second))
	start = time.Now()
	native := runReadings(t, "amd64", []string{edgepmBin}, testenv.ONNXRuntimeLib(t), t0)
	t.Logf("amd64 native: %d readings, %d predictions in Kafka (%s)", native.readings, len(native.preds), time.Since(start).Round(time.Second))
	compareScores(t, arm.preds, native.preds)
}

// prediction is what is compared of one edgepm.predictions record.
type prediction struct {
	Device      string    `json:"device"`
	WindowEnd   int64     `json:"window_end"`
	Score       float64   `json:"score"`
	Outputs     []float64 `json:"outputs"`
	FeatureHash string    `json:"feature_hash"`
}

type runResult struct {
	readings int
	preds    map[string]prediction // by device and window_end
}

// runReadings starts edgepm (argv: the binary, or the emulator and the
// binary) against a fresh Mosquitto and kfake, publishes the readings with
// QoS 1, and returns once every reading is in edgepm.readings.
func runReadings(t *testing.T, name string, argv []string, ortLib string, t0 time.Time) runResult {
	t.Helper()
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := fmt.Sprintf(`gateway_id: %s-gw
data_dir: %s
shutdown_timeout: 20s
http: {listen: "%s"}
mqtt: {broker: %s, client_id: edgepm-%s}
kafka: {brokers: [%s], create_topics: true}
inference:
  onnxruntime_lib: %s
`, name, filepath.Join(dir, "data"), httpAddr, broker.URL(), name, strings.Join(kafka.Seeds(), ","), ortLib)
	cfgPath := filepath.Join(dir, "edgepm.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startArgv(t, append(argv, "run", "--config", cfgPath), httpAddr, 3*time.Minute)

	devices := make([]string, arm64Devices)
	for i := range devices {
		devices[i] = fmt.Sprintf("pump-%02d", i)
	}
	publishReadings(t, broker.URL(), name, devices, t0)
	seen := consumeDeviceSeqs(t, kafka.Seeds(), devices, arm64PerDevice, 10*time.Minute)
	n := 0
	for _, d := range devices {
		for i := uint64(1); i <= arm64PerDevice; i++ {
			if seen[d][i] == 0 {
				t.Fatalf("%s: %s reading %d not in edgepm.readings (have %d of %d); log:\n%s", name, d, i, len(seen[d]), arm64PerDevice, p.logs())
			}
		}
		n += len(seen[d])
	}
	preds := consumePredictions(t, kafka.Seeds(), 20*time.Second)
	if len(preds) == 0 {
		t.Fatalf("%s: no predictions in edgepm.predictions; log:\n%s", name, p.logs())
	}
	if err := p.term(60 * time.Second); err != nil {
		t.Errorf("%s: SIGTERM: %v; log:\n%s", name, err, p.logs())
	}
	return runResult{readings: n, preds: preds}
}

// startArgv starts argv as the edgepm process and waits, up to d (the
// emulator is slow to load the model), until MQTT is connected.
func startArgv(t *testing.T, argv []string, httpAddr string, d time.Duration) *proc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	// ONNXRUNTIME_LIB would override the config's inference.onnxruntime_lib,
	// which names the library of the binary's architecture.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ONNXRUNTIME_LIB=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	p := launch(t, cmd, httpAddr)
	deadline := time.Now().Add(d)
	for {
		if st, err := p.status(); err == nil && st.MQTT.Connected && st.Ready {
			return p
		}
		if strings.Contains(p.logs(), "start failed") {
			t.Fatalf("%s failed to start; log:\n%s", strings.Join(argv, " "), p.logs())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up ready within %s; log:\n%s", strings.Join(argv, " "), d, p.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publishReadings sends arm64PerDevice QoS 1 readings per device, round
// robin, with up to 256 awaiting their PUBACK, and waits for every PUBACK.
// Vibration differs by device and drifts, so the scores cover a range
// rather than one value.
func publishReadings(t *testing.T, url, name string, devices []string, t0 time.Time) {
	t.Helper()
	pub := pahoClient(t, url, "publisher-"+name)
	var pending []mqtt.Token
	wait := func(tok mqtt.Token) {
		if !tok.WaitTimeout(2*time.Minute) || tok.Error() != nil {
			t.Fatalf("%s: publish: no PUBACK within 2m (%v)", name, tok.Error())
		}
	}
	for i := 1; i <= arm64PerDevice; i++ {
		for k, d := range devices {
			vib := 1.5 + 0.4*float64(k) + 2*math.Sin(float64(i)/40+float64(k)) + float64(i)*float64(k)/2000
			pending = append(pending, pub.Publish("plant/s1/l1/"+d+"/telemetry", 1, false, reading(i, t0, vib)))
			if len(pending) == 256 {
				wait(pending[0])
				pending = pending[1:]
			}
		}
	}
	for _, tok := range pending {
		wait(tok)
	}
}

// consumePredictions reads edgepm.predictions until no record came for idle.
func consumePredictions(t *testing.T, seeds []string, idle time.Duration) map[string]prediction {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("edgepm.predictions"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	preds := map[string]prediction{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), idle)
		fs := cl.PollFetches(ctx)
		cancel()
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			var p prediction
			if err := json.Unmarshal(r.Value, &p); err != nil {
				t.Errorf("edgepm.predictions record %q: %v", r.Value, err)
				return
			}
			preds[fmt.Sprintf("%s@%d", p.Device, p.WindowEnd)] = p
			got++
		})
		if got == 0 {
			return preds
		}
	}
}

// compareScores: every window scored by both builds has the same score and
// outputs within scoreTolerance, and both scored the same windows.
func compareScores(t *testing.T, arm, native map[string]prediction) {
	t.Helper()
	var worst float64
	same, hashDiff := 0, 0
	lo, hi, distinct := math.Inf(1), math.Inf(-1), map[float64]bool{}
	for key, a := range arm {
		n, ok := native[key]
		if !ok {
			t.Errorf("window %s scored on arm64 only", key)
			continue
		}
		same++
		lo, hi, distinct[n.Score] = min(lo, n.Score), max(hi, n.Score), true
		if a.FeatureHash != n.FeatureHash {
			hashDiff++
		}
		diffs := []float64{math.Abs(a.Score - n.Score)}
		if len(a.Outputs) != len(n.Outputs) {
			t.Errorf("window %s: %d outputs on arm64, %d on amd64", key, len(a.Outputs), len(n.Outputs))
		}
		for i := range min(len(a.Outputs), len(n.Outputs)) {
			diffs = append(diffs, math.Abs(a.Outputs[i]-n.Outputs[i]))
		}
		for _, d := range diffs {
			worst = max(worst, d)
			if d > scoreTolerance {
				t.Errorf("window %s: arm64 score %v outputs %v, amd64 score %v outputs %v: differ by %g > %g",
					key, a.Score, a.Outputs, n.Score, n.Outputs, d, scoreTolerance)
				break
			}
		}
	}
	for key := range native {
		if _, ok := arm[key]; !ok {
			t.Errorf("window %s scored on amd64 only", key)
		}
	}
	if same == 0 {
		t.Fatal("no window scored by both builds")
	}
	if len(distinct) < 10 {
		t.Errorf("only %d distinct scores: the comparison would not show a difference", len(distinct))
	}
	t.Logf("%d windows scored by both builds (scores %.4g to %.4g, %d distinct): largest score/output difference %.3g (tolerance %g); feature hashes differ in %d",
		same, lo, hi, len(distinct), worst, scoreTolerance, hashDiff)
}
