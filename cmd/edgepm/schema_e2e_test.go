package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
)

// schemaTopics are the topics edgepm produces to, by buffer stream.
var schemaTopics = []string{"readings", "predictions", "alerts", "deadletter", "events", "gateways"}

// TestProducedRecordsMatchSchemas runs edgepm against a private Mosquitto
// and kfake, makes it write every kind of record (readings, predictions,
// alerts, dead letters including a truncated one, and events including
// gateway.started, buffer.dropped, uplink.online and gateway.stopped, and
// heartbeats: one at each start, at the default interval), and
// validates every record it produced, on every topic, against the JSON
// Schemas in docs/schemas. It fails when a produced value stops matching
// its published schema.
func TestProducedRecordsMatchSchemas(t *testing.T) {
	set, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	dir := t.TempDir()
	// A small dead-letter cap, so dead letters are dropped (buffer.dropped)
	// while Kafka is away, and a small payload limit for a truncated one.
	extra := "  model_dir: " + alertProneModel(t, dir) + "\n" +
		"validation: {max_payload_bytes: 512}\n" +
		"buffer: {streams: {deadletter: {max_bytes: 4096}}}\n"
	cfgPath, httpAddr := writeConfig(t, dir, broker.URL(), kafka.Seeds(), extra)
	kafka.Stop() // everything waits in the buffer; the dead letters overflow
	p := startProc(t, cfgPath, httpAddr)

	pub := pahoClient(t, broker.URL(), "schema-pub")
	t0 := time.Now().Add(-time.Hour)
	for i := 1; i <= 80; i++ {
		pub.Publish("plant/s1/l1/pump-7/telemetry", 1, false, reading(i, t0, 2.0+float64(i)*0.5)).Wait()
	}
	for i := range 40 {
		pub.Publish("plant/s1/l1/pump-7/telemetry", 1, false, fmt.Appendf(nil, `{"values":{"bearing_temp_c":"hot-%d"}}`, i)).Wait()
	}
	pub.Publish("plant/s1/l1/pump-8/telemetry", 1, false, bytes.Repeat([]byte("x"), 2000)).Wait()
	// The broker acknowledged the publishes, edgepm may still be taking
	// them: wait until the dead letters overflowed their cap (so
	// buffer.dropped is in the buffer) and every message was taken and
	// acknowledged, before Kafka comes back.
	if !eventually(30*time.Second, func() bool {
		return labelledSum(p, "edgepm_buffer_records_dropped_total", `stream="deadletter"`) > 0 &&
			metricValue(p, "edgepm_ingest_messages_total") >= 121 && metricValue(p, "edgepm_ingest_unacked_messages") == 0
	}) {
		t.Fatalf("edgepm did not take the 121 messages and drop dead letters; metrics:\n%s", p.metrics("edgepm_"))
	}
	kafka.Start()
	if !eventually(60*time.Second, func() bool { st, err := p.status(); return err == nil && st.Buffer.Records == 0 }) {
		t.Fatalf("backlog not delivered; log:\n%s", p.logs())
	}
	if err := p.term(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	// gateway.stopped is committed after the bridge stopped sending: a
	// second run delivers it.
	p = startProc(t, cfgPath, httpAddr)
	if !eventually(60*time.Second, func() bool { st, err := p.status(); return err == nil && st.Buffer.Records == 0 }) {
		t.Fatalf("second run: backlog not delivered; log:\n%s", p.logs())
	}
	if err := p.term(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	got := consumeAll(t, kafka.Seeds(), func(topic string, r *kgo.Record) {
		if h := recordHeader(r, "edgepm-schema"); h != "1" {
			t.Errorf("%s record without edgepm-schema: 1 (got %q): %s", topic, h, r.Value)
		}
		if err := set.Validate(topic, r.Value); err != nil {
			t.Errorf("%s record does not match its schema: %v", topic, err)
		}
	})
	for _, topic := range schemaTopics {
		if got.records[topic] == 0 {
			t.Errorf("no %s records produced", topic)
		}
	}
	for _, typ := range []string{"gateway.started", "buffer.dropped", "uplink.online", "gateway.stopped"} {
		if got.events[typ] == 0 {
			t.Errorf("no %s event produced (events: %v)", typ, got.events)
		}
	}
	if !got.truncated {
		t.Error("no truncated dead letter produced")
	}
	t.Logf("validated records per topic %v, events %v", got.records, got.events)
}

type consumed struct {
	records   map[string]int
	events    map[string]int
	truncated bool
}

// consumeAll reads every edgepm topic from the start until a poll finds
// nothing new, handing each record to check.
func consumeAll(t *testing.T, seeds []string, check func(topic string, r *kgo.Record)) consumed {
	t.Helper()
	topics := make([]string, len(schemaTopics))
	for i, s := range schemaTopics {
		topics[i] = "edgepm." + s
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := consumed{records: map[string]int{}, events: map[string]int{}}
	deadline := time.Now().Add(60 * time.Second)
	for idle := 0; idle < 2 && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			topic := strings.TrimPrefix(r.Topic, "edgepm.")
			got.records[topic]++
			check(topic, r)
			var v struct {
				Type      string `json:"type"`
				Truncated bool   `json:"truncated"`
			}
			_ = json.Unmarshal(r.Value, &v)
			if topic == "events" {
				got.events[v.Type]++
			}
			got.truncated = got.truncated || v.Truncated
		})
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return got
}

// labelledSum sums the samples of a metric whose labels contain label.
func labelledSum(p *proc, name, label string) float64 {
	var sum float64
	for _, l := range strings.Split(p.metrics(name+"{"), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && strings.Contains(f[0], label) {
			v, _ := strconv.ParseFloat(f[1], 64)
			sum += v
		}
	}
	return sum
}

func recordHeader(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
