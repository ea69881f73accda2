package main

// Process-level tests: they build the edgepm binary and run it as an
// operator would, against a private Mosquitto and kfake.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/testenv"
)

var edgepmBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgepm-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	edgepmBin = filepath.Join(dir, "edgepm")
	out, err := exec.Command("go", "build", "-tags", os.Getenv("E2E_BUILD_TAGS"), "-o", edgepmBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build edgepm: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running edgepm process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   *sync.Mutex
	http string
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func writeConfig(t *testing.T, dir, mqttURL string, kafka []string, extra string) (path, httpAddr string) {
	t.Helper()
	httpAddr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := fmt.Sprintf(`gateway_id: e2e-gw
data_dir: %s
shutdown_timeout: 10s
http: {listen: "%s"}
mqtt: {broker: %s, client_id: edgepm-e2e}
kafka: {brokers: [%s], create_topics: true}
inference:
  onnxruntime_lib: %s
  allow_unsigned: true
%s`, filepath.Join(dir, "data"), httpAddr, mqttURL, strings.Join(kafka, ","), testenv.ONNXRuntimeLib(t), extra)
	path = filepath.Join(dir, "edgepm.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, httpAddr
}

func startProc(t *testing.T, cfgPath, httpAddr string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(edgepmBin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	p := launch(t, cmd, httpAddr)
	if !eventually(30*time.Second, func() bool {
		st, err := p.status()
		return err == nil && st.MQTT.Connected
	}) {
		t.Fatalf("edgepm did not come up with MQTT connected; log:\n%s", p.logs())
	}
	return p
}

// launch starts cmd as an edgepm process serving HTTP on httpAddr, its
// output captured in the proc's log, killed with the test (and with the
// test binary: Pdeathsig). It does not wait for anything.
func launch(t *testing.T, cmd *exec.Cmd, httpAddr string) *proc {
	t.Helper()
	p := &proc{t: t, log: &bytes.Buffer{}, mu: &sync.Mutex{}, http: httpAddr, cmd: cmd}
	w := lockedWriter{p.mu, p.log}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

// eventually polls cond every 20 ms until it holds (true) or d passes
// (false). It waits on observable state, never on the passing of time alone.
func eventually(d time.Duration, cond func() bool) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
	return true
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

type statusView struct {
	Ready  bool `json:"ready"`
	Buffer struct {
		Records int `json:"records"`
	} `json:"buffer"`
	MQTT struct {
		Connected bool `json:"connected"`
	} `json:"mqtt"`
	Devices []struct {
		Device string   `json:"device"`
		Stuck  []string `json:"stuck"`
	} `json:"devices"`
}

func (p *proc) status() (*statusView, error) {
	cl := &http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + p.http + "/api/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st statusView
	return &st, json.NewDecoder(resp.Body).Decode(&st)
}

// metrics returns the /metrics lines that contain filter.
func (p *proc) metrics(filter string) string {
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, filter) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (p *proc) kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *proc) term(d time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("edgepm did not stop within %s after SIGTERM", d)
	}
}

func pahoClient(t *testing.T, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func reading(seq int, t0 time.Time, vib float64) []byte {
	return []byte(fmt.Sprintf(`{"ts":%d,"seq":%d,"values":{"vibration_rms":%.3f,"vibration_kurtosis":3.1,"bearing_temp_c":%.2f,"current_a":11.5,"speed_rpm":1480}}`,
		t0.Add(time.Duration(seq)*time.Second).UnixMilli(), seq, vib, 60+vib))
}

// consumeDeviceSeqs reads edgepm.readings until every device has seqs
// 1..n or d passes, and returns what was seen.
func consumeDeviceSeqs(t *testing.T, seeds []string, devices []string, n int, d time.Duration) map[string]map[uint64]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("edgepm.readings"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]map[uint64]int{}
	for _, dev := range devices {
		seen[dev] = map[uint64]int{}
	}
	complete := func() bool {
		for _, dev := range devices {
			if len(seen[dev]) < n {
				return false
			}
		}
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !complete() && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			var v struct {
				Device    string `json:"device"`
				DeviceSeq uint64 `json:"device_seq"`
			}
			if json.Unmarshal(r.Value, &v) == nil && seen[v.Device] != nil {
				seen[v.Device][v.DeviceSeq]++
			}
		})
	}
	return seen
}

// TestKill9UnderLoadLosesNothing: QoS 1 readings are acknowledged only
// after the buffer commit, so killing the appliance with SIGKILL at random
// moments under load (10 times) loses nothing: the broker redelivers what
// was not acknowledged, the buffer keeps what was.
func TestKill9UnderLoadLosesNothing(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	cfgPath, httpAddr := writeConfig(t, t.TempDir(), broker.URL(), kafka.Seeds(), "")
	p := startProc(t, cfgPath, httpAddr)

	devices := []string{"pump-1", "pump-2", "motor-3", "fan-4"}
	const perDevice = 1500
	pub := pahoClient(t, broker.URL(), "e2e-publisher")
	t0 := time.Now().Add(-2 * time.Hour)
	pubDone := make(chan error, 1)
	var publishing atomic.Bool // the publisher is still sending
	publishing.Store(true)
	go func() {
		defer publishing.Store(false)
		pace := time.NewTicker(20 * time.Millisecond) // ~2,000 readings/s: the kills land mid-stream
		defer pace.Stop()
		for i := 1; i <= perDevice; i++ {
			for _, d := range devices {
				tok := pub.Publish("plant/s1/l1/"+d+"/telemetry", 1, false, reading(i, t0, 2))
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					pubDone <- fmt.Errorf("publish %s/%d: %v", d, i, tok.Error())
					return
				}
			}
			if i%10 == 0 {
				<-pace.C
			}
		}
		pubDone <- nil
	}()
	for round := range 10 {
		// Kill once this process has ingested a varying number of readings,
		// so each kill lands mid-stream at a different point (or at once
		// when the publisher has finished: later rounds then kill during
		// the drain of what is left).
		want := float64(100 + round*37%200)
		if !eventually(30*time.Second, func() bool {
			return !publishing.Load() || metricValue(p, "edgepm_ingest_readings_total") >= want
		}) {
			t.Fatalf("round %d: fewer than %.0f readings ingested; log:\n%s", round, want, p.logs())
		}
		p.kill9()
		p = startProc(t, cfgPath, httpAddr)
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	seen := consumeDeviceSeqs(t, kafka.Seeds(), devices, perDevice, 120*time.Second)
	dups := 0
	for _, d := range devices {
		for i := uint64(1); i <= perDevice; i++ {
			if seen[d][i] == 0 {
				t.Fatalf("%s reading %d lost after 10 kill -9 rounds (have %d of %d)", d, i, len(seen[d]), perDevice)
			}
			dups += seen[d][i] - 1
		}
	}
	t.Logf("all %d readings arrived after 10 SIGKILLs; %d duplicates (at-least-once)", perDevice*len(devices), dups)
	if err := p.term(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v; log:\n%s", err, p.logs())
	}
}

// TestSIGHUPWithBadConfigKeepsRunning: a reload with an invalid file keeps
// the running config and the process.
func TestSIGHUPWithBadConfigKeepsRunning(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	cfgPath, httpAddr := writeConfig(t, t.TempDir(), broker.URL(), kafka.Seeds(), "")
	p := startProc(t, cfgPath, httpAddr)
	if err := os.WriteFile(cfgPath, []byte("gateway_id: [not, a, string\nmqtt: {brokr: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	if !eventually(10*time.Second, func() bool { return strings.Contains(p.logs(), "reload rejected") }) {
		t.Fatalf("no 'reload rejected' in the log:\n%s", p.logs())
	}
	// Still serving: a reading published after the rejected reload is ingested.
	before := metricValue(p, "edgepm_ingest_readings_total")
	pub := pahoClient(t, broker.URL(), "e2e-after-reload")
	if tok := pub.Publish("plant/s1/l1/pump-1/telemetry", 1, false, reading(1, time.Now().Add(-time.Minute), 2)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish after reload: %v", tok.Error())
	}
	if !eventually(10*time.Second, func() bool { return metricValue(p, "edgepm_ingest_readings_total") > before }) {
		t.Fatalf("reading after the rejected reload not ingested; log:\n%s", p.logs())
	}
	st, err := p.status()
	if err != nil || !st.MQTT.Connected {
		t.Fatalf("not serving after a bad reload: %v %+v\n%s", err, st, p.logs())
	}
	if p.cmd.ProcessState != nil {
		t.Fatal("process exited")
	}
	if err := p.term(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
}

// TestLocalAlertsWithKafkaDown: with the Kafka side stopped, a degrading
// machine still raises an alert on local MQTT.
func TestLocalAlertsWithKafkaDown(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	dir := t.TempDir()
	modelDir := alertProneModel(t, dir)
	cfgPath, httpAddr := writeConfig(t, dir, broker.URL(), kafka.Seeds(), "  model_dir: "+modelDir+"\n")
	kafka.Stop()
	p := startProc(t, cfgPath, httpAddr)

	sub := pahoClient(t, broker.URL(), "e2e-hmi")
	alerts := make(chan []byte, 16)
	if tok := sub.Subscribe("edgepm/e2e-gw/alerts/#", 1, func(_ mqtt.Client, m mqtt.Message) { alerts <- m.Payload() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	pub := pahoClient(t, broker.URL(), "e2e-pub")
	t0 := time.Now().Add(-time.Hour)
	for i := 1; i <= 80; i++ {
		vib := 2.0 + float64(i)*0.5 // a bearing going bad
		pub.Publish("plant/s1/l1/pump-7/telemetry", 1, false, reading(i, t0, vib)).Wait()
	}
	select {
	case a := <-alerts:
		var v struct{ Device, State string }
		if err := json.Unmarshal(a, &v); err != nil || v.Device != "pump-7" || v.State != "raised" {
			t.Fatalf("alert %s (%v)", a, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no local alert with Kafka down; metrics:\n%s\nlog:\n%s", p.metrics("edgepm_"), p.logs())
	}
	_ = p.term(30 * time.Second)
}

// alertProneModel copies the default model package with thresholds that any
// score crosses, so the test does not depend on what the model learned.
func alertProneModel(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(), "models", "default")
	dst := filepath.Join(dir, "model")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	onnx, err := os.ReadFile(filepath.Join(src, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	b, err := os.ReadFile(filepath.Join(src, "manifest.json"))
	if err != nil || json.Unmarshal(b, &man) != nil {
		t.Fatalf("read default manifest: %v", err)
	}
	man["version"] = "alert-test"
	man["thresholds"] = map[string]any{"raise": 0, "clear": 0, "min_duration": "0s"}
	b, _ = json.Marshal(man)
	for name, data := range map[string][]byte{"manifest.json": b, "model.onnx": onnx} {
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestSystemdNotify runs the binary as systemd would with Type=notify and
// WatchdogSec, against a real unix datagram socket: READY=1 once serving,
// WATCHDOG=1 while the pipeline turns, STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	cfgPath, httpAddr := writeConfig(t, dir, broker.URL(), kafka.Seeds(), "")
	p := startProc(t, cfgPath, httpAddr, "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	expect := func(prefix string) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m := <-msgs:
				if strings.HasPrefix(m, prefix) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q from edgepm; log:\n%s", prefix, p.logs())
			}
		}
	}
	expect("READY=1")
	st, err := p.status()
	if err != nil || !st.MQTT.Connected {
		t.Fatalf("READY sent before the data path was up: %+v %v", st, err)
	}
	expect("WATCHDOG=1")
	expect("WATCHDOG=1")
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	expect("STOPPING=1")
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; log:\n%s", err, p.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
}

// TestStatusCommandAndNoSecretsInLogs: `edgepm status` reads a running
// appliance, and the MQTT password never shows in its logs or status.
func TestStatusCommandAndNoSecretsInLogs(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	cfgPath, httpAddr := writeConfig(t, t.TempDir(), broker.URL(), kafka.Seeds(), "log_level: debug\n")
	const secret = "s3cr3t-pw-do-not-log"
	p := startProc(t, cfgPath, httpAddr, "EDGEPM_MQTT_USERNAME=gw", "EDGEPM_MQTT_PASSWORD="+secret,
		"EDGEPM_KAFKA_SASL_PASSWORD="+secret)
	out, err := exec.Command(edgepmBin, "status", "--addr", httpAddr).CombinedOutput()
	if err != nil {
		t.Fatalf("edgepm status: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "READY") || !strings.Contains(string(out), "connected=true") {
		t.Fatalf("status output:\n%s", out)
	}
	js, _ := exec.Command(edgepmBin, "status", "--addr", httpAddr, "--json").CombinedOutput()
	check := exec.Command(edgepmBin, "config", "check", "--config", cfgPath)
	check.Env = append(os.Environ(), "EDGEPM_MQTT_PASSWORD="+secret, "EDGEPM_KAFKA_SASL_PASSWORD="+secret)
	cfgOut, err := check.CombinedOutput()
	if err != nil || !strings.Contains(string(cfgOut), "<redacted>") {
		t.Errorf("config check: %v\n%s", err, cfgOut)
	}
	if err := p.term(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"log": p.logs(), "status": string(out) + string(js), "config check": string(cfgOut)} {
		if strings.Contains(text, secret) {
			t.Errorf("the password appears in the %s", what)
		}
	}
}

// metricValue returns an unlabelled metric's value from edgepm's /metrics (0 when absent).
func metricValue(p *proc, name string) float64 {
	for _, l := range strings.Split(p.metrics(name), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}
