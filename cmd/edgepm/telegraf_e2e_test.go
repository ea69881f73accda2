package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/testenv"
)

// telegrafBin returns a telegraf binary: $TELEGRAF_BIN, or the minimal
// build of `make telegraf` (scripts/install-telegraf.sh), built now if it
// is missing. The test is skipped, saying why, only when it cannot be
// built (no Go module proxy).
func telegrafBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("TELEGRAF_BIN"); bin != "" {
		return bin
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, ".local", "bin", "telegraf")
	if out, err := exec.Command(filepath.Join(root, "scripts", "install-telegraf.sh")).CombinedOutput(); err != nil {
		t.Skipf("telegraf could not be built (scripts/install-telegraf.sh: %v); set TELEGRAF_BIN to run this test:\n%s", err, out)
	}
	return bin
}

// TestTelegrafThroughMosquitto: a real telegraf (inputs.file ->
// outputs.mqtt, JSON serializer) publishes through Mosquitto to edgepm,
// once per metric and once as a batch; edgepm's telegraf subscriptions
// turn both into readings records in Kafka: device from the host tag,
// booleans as 0/1, a listed string field as a label, and the batch's two
// metrics of one device and time merged into one reading.
func TestTelegrafThroughMosquitto(t *testing.T) {
	bin := telegrafBin(t)
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	dir := t.TempDir()
	cfgPath, httpAddr := writeConfig(t, dir, broker.URL(), kafka.Seeds(), "")
	b, _ := os.ReadFile(cfgPath)
	subs := fmt.Sprintf(`mqtt:
  broker: %s
  client_id: edgepm-e2e
  subscriptions:
    - {topic: "telegraf/{device}/{measurement}", format: telegraf, telegraf: {timestamp_unit: ms}}
    - {topic: "tgbatch/{device}", format: telegraf, telegraf: {timestamp_unit: ms, labels: [mode]}}
`, broker.URL())
	b = []byte(strings.Replace(string(b), "mqtt: {broker: "+broker.URL()+", client_id: edgepm-e2e}\n", subs, 1))
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, cfgPath, httpAddr)

	data := filepath.Join(dir, "metrics.lp")
	lp := "pump vibration_rms=2.31,bearing_temp_c=61.2,running=true,mode=\"auto\"\nfan speed_rpm=1480i,mode=\"auto\"\n"
	if err := os.WriteFile(data, []byte(lp), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "telegraf.conf")
	if err := os.WriteFile(conf, []byte(telegrafConf(broker.URL(), data)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "--config", conf, "--once").CombinedOutput(); err != nil {
		t.Fatalf("telegraf --once: %v\n%s", err, out)
	}

	recs := consumeReadings(t, kafka.Seeds(), 3, 30*time.Second)
	var perMetric, merged int
	for _, r := range recs {
		if r.Device != "pump-tg-1" {
			t.Errorf("device %q, want pump-tg-1 (the host tag)", r.Device)
		}
		switch {
		case r.Fields["measurement"] == "pump":
			perMetric++
			if r.Values["pump_vibration_rms"] != 2.31 || r.Values["pump_running"] != 1 || len(r.Values) != 3 || r.Fields["mode"] != "" {
				t.Errorf("pump metric: %+v", r)
			}
		case r.Fields["measurement"] == "fan":
			perMetric++
			if r.Values["fan_speed_rpm"] != 1480 {
				t.Errorf("fan metric: %+v", r)
			}
		default:
			merged++
			if r.Values["pump_bearing_temp_c"] != 61.2 || r.Values["fan_speed_rpm"] != 1480 || r.Fields["mode"] != "auto" {
				t.Errorf("batch reading: %+v", r)
			}
		}
	}
	if perMetric != 2 || merged != 1 {
		t.Fatalf("%d per-metric readings (want 2), %d merged batch readings (want 1): %+v\nedgepm log:\n%s", perMetric, merged, recs, p.logs())
	}
	if v := metricValue(p, "edgepm_ingest_invalid_total"); v != 0 {
		t.Errorf("%v messages dead-lettered", v)
	}
}

func telegrafConf(broker, data string) string {
	return fmt.Sprintf(`[agent]
  hostname = "pump-tg-1"
  omit_hostname = false
[[inputs.file]]
  files = [%q]
  data_format = "influx"
[[outputs.mqtt]]
  servers = [%q]
  topic = 'telegraf/{{ .Tag "host" }}/{{ .Name }}'
  qos = 1
  layout = "non-batch"
  data_format = "json"
  json_timestamp_units = "1ms"
[[outputs.mqtt]]
  servers = [%q]
  topic = 'tgbatch/{{ .Tag "host" }}'
  qos = 1
  layout = "batch"
  data_format = "json"
  json_timestamp_units = "1ms"
`, data, broker, broker)
}

// readingRecord is the part of an edgepm.readings value the test reads.
type readingRecord struct {
	Device string             `json:"device"`
	Fields map[string]string  `json:"fields"`
	Values map[string]float64 `json:"values"`
}

// consumeReadings reads edgepm.readings until n records arrived or d passed.
func consumeReadings(t *testing.T, seeds []string, n int, d time.Duration) []readingRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("edgepm.readings"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []readingRecord
	for len(out) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var v readingRecord
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Errorf("record %q: %v", r.Value, err)
				return
			}
			out = append(out, v)
		})
	}
	return out
}
