package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/edge"
	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/internal/testenv"
)

// stack is one integration test's world: a private Mosquitto, a kfake
// broker and a running appliance.
type stack struct {
	t     *testing.T
	mqtt  *testenv.MosquittoServer
	kafka *testenv.KafkaServer
	app   *edge.App
	cfg   edge.Config
	log   *slog.Logger // nil: testLogger
	stop  context.CancelFunc
	done  chan error
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func startStack(t *testing.T, extraYAML string) *stack {
	t.Helper()
	return startStackMQTT(t, "", extraYAML)
}

// startStackMQTT is startStack with extra keys for the mqtt section
// (indented lines, e.g. "  subscriptions: [...]").
func startStackMQTT(t *testing.T, mqttYAML, extraYAML string) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{}, mqttYAML, extraYAML)
}

// stackOptions change what startStackWith starts.
type stackOptions struct {
	mosquitto []testenv.MosquittoOption
	// broker, when set, is the broker URL the appliance is given (a proxy
	// in front of the test's Mosquitto).
	broker func(*testenv.MosquittoServer) string
	// kafka holds extra keys for the kafka section (indented lines).
	kafka string
}

// startStackWith is startStackMQTT with a configured Mosquitto.
func startStackWith(t *testing.T, o stackOptions, mqttYAML, extraYAML string) *stack {
	t.Helper()
	s := prepareStack(t, o, mqttYAML, extraYAML)
	s.startApp()
	return s
}

// prepareStack starts the brokers and parses the appliance's config; the
// appliance is not started (set s.log or change s.cfg first).
func prepareStack(t *testing.T, o stackOptions, mqttYAML, extraYAML string) *stack {
	t.Helper()
	s := &stack{t: t, mqtt: testenv.StartMosquitto(t, o.mosquitto...), kafka: testenv.StartKafka(t)}
	broker := s.mqtt.URL()
	if o.broker != nil {
		broker = o.broker(s.mqtt)
	}
	lib := testenv.ONNXRuntimeLib(t)
	yaml := fmt.Sprintf(`gateway_id: it-gw
data_dir: %s
shutdown_timeout: 10s
http: {listen: "127.0.0.1:0"}
mqtt:
  broker: %s
  client_id: edgepm-it
%s
kafka:
  brokers: [%s]
  create_topics: true
  partitions: 2
%s
inference:
  onnxruntime_lib: %s
%s`, t.TempDir(), broker, mqttYAML, s.kafka.Seeds()[0], o.kafka, lib, extraYAML)
	cfg, err := edge.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	return s
}

func (s *stack) startApp() {
	s.t.Helper()
	log := s.log
	if log == nil {
		log = testLogger(s.t)
	}
	app, err := edge.New(s.cfg, log)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.app, s.stop, s.done = app, cancel, make(chan error, 1)
	go func() { s.done <- app.Run(ctx) }()
	s.t.Cleanup(s.stopApp)
	s.waitFor("MQTT connected", 20*time.Second, func() bool { return app.Status().MQTT.Connected })
}

func (s *stack) stopApp() {
	if s.stop == nil {
		return
	}
	s.stop()
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("app.Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		s.t.Error("app did not stop within 60s")
	}
	s.stop = nil
}

func (s *stack) waitFor(what string, d time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mosquittoPub publishes each line of lines as one message with Mosquitto's
// own client (a client nobody here wrote).
func (s *stack) mosquittoPub(topic string, qos int, lines []string) {
	s.t.Helper()
	bin, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		testenv.Missing(s.t, "mosquitto_pub (apt-get install mosquitto-clients)")
	}
	cmd := exec.Command(bin, "-h", "127.0.0.1", "-p", strconv.Itoa(s.mqtt.Port), "-q", strconv.Itoa(qos),
		"-t", topic, "-l", "-i", fmt.Sprintf("it-pub-%d", time.Now().UnixNano()))
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("mosquitto_pub: %v: %s", err, out.String())
	}
}

// mosquittoPubFile publishes a file's content as one QoS 1 message.
func (s *stack) mosquittoPubFile(topic, file string) {
	s.t.Helper()
	out, err := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(s.mqtt.Port), "-q", "1",
		"-t", topic, "-f", file).CombinedOutput()
	if err != nil {
		s.t.Fatalf("mosquitto_pub -f: %v: %s", err, out)
	}
}

// consumed is what a franz-go consumer read from the edgepm topics.
type consumed struct {
	recs map[string][]*kgo.Record // by stream
}

// consume reads the given streams' topics from the start until done says
// stop or d passes.
func (s *stack) consume(d time.Duration, streams []string, done func(c *consumed) bool) *consumed {
	s.t.Helper()
	topics := make([]string, len(streams))
	for i, st := range streams {
		topics[i] = "edgepm." + st
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.kafka.Seeds()...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AllowAutoTopicCreation())
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Close()
	c := &consumed{recs: map[string][]*kgo.Record{}}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !done(c) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			s.t.Fatalf("timed out after %s consuming %v: have %s", d, streams, c.summary())
		}
		fs.EachRecord(func(r *kgo.Record) {
			st := strings.TrimPrefix(r.Topic, "edgepm.")
			c.recs[st] = append(c.recs[st], r)
		})
	}
	return c
}

func (c *consumed) summary() string {
	var parts []string
	for st, rs := range c.recs {
		parts = append(parts, fmt.Sprintf("%s=%d", st, len(rs)))
	}
	return strings.Join(parts, " ")
}

// unique returns the stream's records de-duplicated by the edgepm-seq
// header, as a consumer would, keyed by their position: 1 for the lowest
// seq seen (a new buffer starts its sequences at a time-based floor, not 1).
func (c *consumed) unique(t *testing.T, stream string) map[uint64]*kgo.Record {
	t.Helper()
	bySeq := map[uint64]*kgo.Record{}
	first := ^uint64(0)
	for _, r := range c.recs[stream] {
		seq, err := strconv.ParseUint(header(r, "edgepm-seq"), 10, 64)
		if err != nil {
			t.Fatalf("%s record without a valid edgepm-seq header: %v", stream, r.Headers)
		}
		bySeq[seq] = r
		first = min(first, seq)
	}
	out := make(map[uint64]*kgo.Record, len(bySeq))
	for seq, r := range bySeq {
		out[seq-first+1] = r
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (s *stack) httpGet(path string) []byte {
	s.t.Helper()
	resp, err := http.Get("http://" + s.app.HTTPAddr() + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func readingLines(start, n int, t0 time.Time) []string {
	lines := make([]string, n)
	for i := range n {
		k := start + i
		lines[i] = fmt.Sprintf(`{"ts":%d,"seq":%d,"values":{"vibration_rms":%.3f,"bearing_temp_c":%.2f,"current_a":%.2f,"speed_rpm":1480}}`,
			t0.Add(time.Duration(k)*time.Second).UnixMilli(), k, 2+0.01*float64(k%50), 60+0.1*float64(k%30), 10+0.05*float64(k%20))
	}
	return lines
}

func TestEndToEndMosquittoPubToKafka(t *testing.T) {
	s := startStack(t, "")
	devices := []string{"pump-001", "motor-002", "fan-003"}
	const perDevice = 120
	t0 := time.Now().Add(-time.Hour)
	for _, d := range devices {
		s.mosquittoPub("plant/site1/line1/"+d+"/telemetry", 1, readingLines(1, perDevice, t0))
	}
	total := perDevice * len(devices)
	c := s.consume(60*time.Second, []string{"readings", "predictions"}, func(c *consumed) bool {
		predicted := map[string]bool{} // predictions of every device, not just as many as devices
		for _, r := range c.recs["predictions"] {
			predicted[string(r.Key)] = true
		}
		return len(c.recs["readings"]) >= total && len(predicted) >= len(devices)
	})
	readings := c.unique(t, "readings")
	if len(readings) != total {
		t.Fatalf("got %d distinct readings, want %d", len(readings), total)
	}
	perDev := map[string][]uint64{}
	for seq := uint64(1); seq <= uint64(total); seq++ {
		r, ok := readings[seq]
		if !ok {
			t.Fatalf("reading seq %d missing: a gap", seq)
		}
		if header(r, "edgepm-gateway") != "it-gw" || header(r, "edgepm-stream") != "readings" || header(r, "edgepm-schema") != "1" {
			t.Fatalf("seq %d headers: %v", seq, r.Headers)
		}
		var v struct {
			V         int                `json:"v"`
			Gateway   string             `json:"gateway"`
			Device    string             `json:"device"`
			DeviceSeq uint64             `json:"device_seq"`
			Fields    map[string]string  `json:"fields"`
			Values    map[string]float64 `json:"values"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("seq %d: value %s: %v", seq, r.Value, err)
		}
		if string(r.Key) != v.Device || v.V != 1 || v.Gateway != "it-gw" || v.Fields["site"] != "site1" || v.Values["speed_rpm"] != 1480 {
			t.Fatalf("seq %d: key %q value %+v", seq, r.Key, v)
		}
		perDev[v.Device] = append(perDev[v.Device], v.DeviceSeq)
	}
	for _, d := range devices {
		got := perDev[d]
		if len(got) != perDevice {
			t.Fatalf("%s: %d readings, want %d", d, len(got), perDevice)
		}
		for i, ds := range got { // one partition per device key: buffer order is publish order
			if ds != uint64(i+1) {
				t.Fatalf("%s: reading %d has device seq %d: order or loss problem", d, i, ds)
			}
		}
	}
	predDevices := map[string]bool{}
	for _, r := range c.recs["predictions"] {
		var p struct {
			Device, Model, ModelVersion string
			Score                       float64
			FeatureHash                 string `json:"feature_hash"`
			MV                          string `json:"model_version"`
		}
		if err := json.Unmarshal(r.Value, &p); err != nil {
			t.Fatal(err)
		}
		if p.Score < 0 || p.Score > 1 || p.Model == "" || p.MV == "" || p.FeatureHash == "" || string(r.Key) != p.Device {
			t.Fatalf("prediction %s", r.Value)
		}
		if header(r, "edgepm-model") != p.Model+":"+p.MV || header(r, "edgepm-stream") != "predictions" {
			t.Fatalf("prediction headers %v", r.Headers)
		}
		predDevices[p.Device] = true
	}
	for _, d := range devices {
		if !predDevices[d] {
			t.Errorf("no prediction for %s", d)
		}
	}
	// Once Kafka acknowledged everything, the buffer drains.
	s.waitFor("buffer drained", 30*time.Second, func() bool {
		st := s.app.Status()
		return st.Buffer.Records == 0
	})
}

func TestKafkaOutageLosesNothing(t *testing.T) {
	s := startStack(t, "")
	t0 := time.Now().Add(-time.Hour)
	const n = 600
	s.mosquittoPub("plant/s/l/pump-9/telemetry", 1, readingLines(1, n/3, t0))
	s.kafka.Stop()
	s.mosquittoPub("plant/s/l/pump-9/telemetry", 1, readingLines(n/3+1, n/3, t0))
	s.waitFor("readings buffered while Kafka is down", 20*time.Second, func() bool {
		return s.app.Status().Buffer.Records >= n/3
	})
	time.Sleep(2 * time.Second)
	s.kafka.Start()
	s.mosquittoPub("plant/s/l/pump-9/telemetry", 1, readingLines(2*n/3+1, n/3, t0))
	c := s.consume(90*time.Second, []string{"readings"}, func(c *consumed) bool {
		seen := map[string]bool{}
		for _, r := range c.recs["readings"] {
			seen[header(r, "edgepm-seq")] = true
		}
		return len(seen) >= n
	})
	readings := c.unique(t, "readings")
	for seq := uint64(1); seq <= n; seq++ {
		if _, ok := readings[seq]; !ok {
			t.Fatalf("reading seq %d never arrived", seq)
		}
	}
	t.Logf("%d records consumed for %d distinct readings (%d duplicates from the outage)",
		len(c.recs["readings"]), len(readings), len(c.recs["readings"])-len(readings))
}

func TestInvalidPayloadsGoToDeadletter(t *testing.T) {
	s := startStack(t, "validation:\n  ranges:\n    bearing_temp_c: {min: -40, max: 250}\n  max_payload_bytes: 4096\n")
	bad := []string{
		`{"values":{"bearing_temp_c":`,
		`{"values":{"bearing_temp_c":"hot"}}`,
		`{"values":{"bearing_temp_c":NaN}}`,
		`{"values":{"bearing_temp_c":1e999}}`,
		`{"values":{"bearing_temp_c":900}}`,
		`{"ts":1000,"values":{"bearing_temp_c":50}}`,
		`{"values":{"bearing_temp_c":50},"pad":"` + strings.Repeat("x", 5000) + `"}`,
		`{"values":{"bearing_temp_c":null}}`,
		`{"values":{"bearing_temp_c":50,"bearing_temp_c":51}}`,
	}
	want := []string{ingest.ReasonMalformed, ingest.ReasonWrongType, ingest.ReasonMalformed, ingest.ReasonNonFinite,
		ingest.ReasonOutOfRange, ingest.ReasonClockSkew, ingest.ReasonTooLarge, ingest.ReasonWrongType, ingest.ReasonMalformed}
	s.mosquittoPub("plant/s/l/pump-1/telemetry", 1, bad)
	c := s.consume(60*time.Second, []string{"deadletter"}, func(c *consumed) bool { return len(c.recs["deadletter"]) >= len(bad) })
	dl := c.unique(t, "deadletter")
	for i := range bad {
		r := dl[uint64(i+1)]
		var v struct {
			Reason, Error, Topic string
			Payload              []byte
			PayloadBytes         int  `json:"payload_bytes"`
			Truncated            bool `json:"truncated"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatal(err)
		}
		wantPayload := bad[i]
		if len(wantPayload) > 4096 {
			wantPayload = wantPayload[:4096] // kept up to max_payload_bytes
		}
		if v.Reason != want[i] || v.Error == "" || v.Topic != "plant/s/l/pump-1/telemetry" || string(v.Payload) != wantPayload ||
			v.PayloadBytes != len(bad[i]) || v.Truncated != (len(bad[i]) > 4096) {
			t.Errorf("dead letter %d: reason %q (%s), want %q; payload kept: %v, bytes %d, truncated %v",
				i, v.Reason, v.Error, want[i], string(v.Payload) == wantPayload, v.PayloadBytes, v.Truncated)
		}
		if v.Reason == ingest.ReasonWrongType && !strings.Contains(v.Error, `field "values.bearing_temp_c"`) {
			t.Errorf("dead letter %d: error %q does not name the field path", i, v.Error)
		}
	}
	// A message far over every limit (1 MiB + 1, as firmware-sim's oversized
	// fault sends) is dead-lettered too and does not wedge ingest.
	huge := filepath.Join(t.TempDir(), "huge.json")
	if err := os.WriteFile(huge, []byte(`{"values":{"x":1},"pad":"`+strings.Repeat("y", 1<<20)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s.mosquittoPubFile("plant/s/l/pump-1/telemetry", huge)
	s.mosquittoPub("plant/s/l/pump-1/telemetry", 1, readingLines(1, 1, time.Now()))
	c = s.consume(60*time.Second, []string{"deadletter", "readings"}, func(c *consumed) bool {
		return len(c.recs["deadletter"]) >= len(bad)+1 && len(c.recs["readings"]) >= 1
	})
	var last struct {
		Reason       string `json:"reason"`
		PayloadBytes int    `json:"payload_bytes"`
		Truncated    bool   `json:"truncated"`
	}
	if err := json.Unmarshal(c.unique(t, "deadletter")[uint64(len(bad)+1)].Value, &last); err != nil {
		t.Fatal(err)
	}
	if last.Reason != ingest.ReasonTooLarge || !last.Truncated || last.PayloadBytes <= 1<<20 {
		t.Errorf("1 MiB message: %+v", last)
	}
	metrics := string(s.httpGet("/metrics"))
	if !strings.Contains(metrics, `edgepm_ingest_invalid_total{reason="malformed_json"} 3`) {
		t.Errorf("metrics do not count the malformed payloads:\n%s", grepLines(metrics, "edgepm_ingest_invalid_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// metricLine returns the value text of a metric without labels from the
// app's /metrics.
func metricLine(t *testing.T, app *edge.App, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + app.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	return ""
}

// TestTwoSubscriptions: each message is routed to the subscription whose
// template fits its topic (fields captured by that template), once.
func TestTwoSubscriptions(t *testing.T) {
	s := startStackMQTT(t, `  subscriptions:
    - {topic: "plant/{site}/{line}/{device}/telemetry"}
    - {topic: "lab/{bench}/{device}/data"}`, "")
	t0 := time.Now()
	s.mosquittoPub("plant/site1/line1/pump-1/telemetry", 1, readingLines(1, 3, t0))
	s.mosquittoPub("lab/b7/rig-2/data", 1, readingLines(1, 2, t0))
	c := s.consume(30*time.Second, []string{"readings"}, func(c *consumed) bool { return len(c.recs["readings"]) >= 5 })
	byDevice := map[string][]map[string]any{}
	for _, r := range c.unique(t, "readings") {
		var v struct {
			Device string         `json:"device"`
			Fields map[string]any `json:"fields"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatal(err)
		}
		byDevice[v.Device] = append(byDevice[v.Device], v.Fields)
	}
	if len(byDevice["pump-1"]) != 3 || len(byDevice["rig-2"]) != 2 || len(byDevice) != 2 {
		t.Fatalf("readings by device: %v", byDevice)
	}
	if f := byDevice["pump-1"][0]; f["site"] != "site1" || f["line"] != "line1" {
		t.Fatalf("pump-1 fields %v", f)
	}
	if f := byDevice["rig-2"][0]; f["bench"] != "b7" || len(f) != 1 {
		t.Fatalf("rig-2 fields %v", f)
	}
}
