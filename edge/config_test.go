package edge

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

func TestGoodConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/config/*.good.yaml")
	if len(files) == 0 {
		t.Fatal("no good configs")
	}
	for _, f := range files {
		cfg, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if cfg.MQTT.ClientID == "" || cfg.Buffer.MaxBytes == 0 || cfg.Kafka.TopicPrefix == "" {
			t.Errorf("%s: defaults not applied: %+v", f, cfg)
		}
	}
}

func TestBadConfigs(t *testing.T) {
	want := map[string]string{
		"unknown-key.bad.yaml":         "mqtt.brokr: unknown key (line 3)",
		"buffer-unknown-key.bad.yaml":  "buffer.max_byts: unknown key (line 3)",
		"buffer-type.bad.yaml":         `buffer.max_bytes: must be a whole number, got "lots" (line 4)`,
		"env-unset.bad.yaml":           "mqtt.password: ${EDGEPM_TEST_UNSET_PASSWORD}: environment variable not set (set it, or write $${ for a literal ${) (line 4)",
		"relative-datadir.bad.yaml":    `data_dir: must be an absolute path, got "relative/dir"`,
		"log-level.bad.yaml":           `log_level: must be debug, info, warn or error, got "loud"`,
		"template.bad.yaml":            "mqtt.subscriptions[0].topic",
		"qos.bad.yaml":                 "mqtt.subscriptions[0].qos: must be 0 or 1, got 2",
		"format.bad.yaml":              `mqtt.subscriptions[1].format: unknown payload format "sparkplug" (known: edgepm, flat, sparkplug_b, telegraf, waveform_f32le)`,
		"flat-unit.bad.yaml":           `mqtt.subscriptions[0].flat.timestamp_unit: must be one of [s ms us ns rfc3339 none], got "minutes"`,
		"sparkplug-topic.bad.yaml":     `mqtt.subscriptions[0].topic: not used with format sparkplug_b`,
		"sparkplug-block.bad.yaml":     `mqtt.subscriptions[0].sparkplug: only for format sparkplug_b, but format is "edgepm"`,
		"sparkplug-device-id.bad.yaml": `mqtt.subscriptions[0].sparkplug.device_id: "{node}/{device}": unknown placeholder {node}`,
		"sparkplug-group.bad.yaml":     `mqtt.subscriptions[0].sparkplug.groups[1]: "a/#" must be one topic level without / + #`,
		"range.bad.yaml":               "validation.ranges.temp: min must be <= max, got [10, 1]",
		"buffer-max.bad.yaml":          "buffer.max_bytes: must be > 0, got -1",
		"buffer-stream.bad.yaml":       `buffer.streams: unknown stream "metrics"`,
		"buffer-caps.bad.yaml":         "must sum to less than buffer.max_bytes=1048576",
		"payload-limit.bad.yaml":       "validation.max_payload_bytes: 2097152 does not fit one record; at most 1039466 with kafka.batch_max_bytes=1048576",
		"pubkey.bad.yaml":              "inference.public_keys[0]: not base64",
		"scoring.bad.yaml":             `inference.scoring: must be fast or reference, got "fastest"`,
		"drift-rows.bad.yaml":          "inference.drift_min_rows: must be >= 1, got -5",
		"compression.bad.yaml":         "brotli",
		"stuck.bad.yaml":               "validation.stuck_after: must be 0 (off) or at least 2",
		"duration.bad.yaml":            `shutdown_timeout: must be a duration such as 30s or 5m, got "soon" (line 2)`,
		"fleet-interval.bad.yaml":      "fleet.heartbeat_interval: must be 0 (off) or between 1s and 1h, got 100ms",
	}
	files, _ := filepath.Glob("testdata/config/*.bad.yaml")
	if len(files) != len(want) {
		t.Fatalf("%d bad configs on disk, %d in the table", len(files), len(want))
	}
	for _, f := range files {
		msg, ok := want[filepath.Base(f)]
		if !ok {
			t.Errorf("%s: not in the table", f)
			continue
		}
		_, err := Load(f)
		if err == nil {
			t.Errorf("%s: loaded, want error containing %q", f, msg)
			continue
		}
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %q does not contain %q", f, err, msg)
		}
		if goName.MatchString(err.Error()) {
			t.Errorf("%s: error %q names a Go type", f, err)
		}
	}
}

// goName matches what an error in the user's terms never holds: Go type
// and package names, YAML tags.
var goName = regexp.MustCompile(`\b(edge|ingest|bridge|time)\.[A-Z]|\[\]string|\bint64\b|!!|unmarshal|not found in type`)

// ${VAR} is expanded in any value, typed after expansion, never in comments;
// $${ is a literal ${.
func TestConfigExpandsEnvironment(t *testing.T) {
	t.Setenv("EDGEPM_TEST_SITE", "plant-7")
	t.Setenv("EDGEPM_TEST_MQTT_HOST", "mqtt.local")
	t.Setenv("EDGEPM_TEST_BUFFER_BYTES", "2097152")
	cfg, err := Parse([]byte(`# ${EDGEPM_TEST_UNSET_IN_COMMENT} in a comment is not expanded
gateway_id: gw-${EDGEPM_TEST_SITE}
mqtt:
  broker: tcp://${EDGEPM_TEST_MQTT_HOST}:1883
  username: "$${USER}"
buffer:
  max_bytes: ${EDGEPM_TEST_BUFFER_BYTES}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GatewayID != "gw-plant-7" || cfg.MQTT.Broker != "tcp://mqtt.local:1883" || cfg.Buffer.MaxBytes != 2097152 ||
		cfg.MQTT.Username != "${USER}" {
		t.Fatalf("expanded: gateway_id %q, mqtt.broker %q, buffer.max_bytes %d, mqtt.username %q",
			cfg.GatewayID, cfg.MQTT.Broker, cfg.Buffer.MaxBytes, cfg.MQTT.Username)
	}
	_, err = Parse([]byte(`gateway_id: gw
kafka:
  brokers: ["${EDGEPM_TEST_UNSET_BROKER}:9092"]
`))
	if !errors.Is(err, ErrUnsetVariable) || !strings.Contains(err.Error(), "kafka.brokers[0]: ${EDGEPM_TEST_UNSET_BROKER}") ||
		!strings.Contains(err.Error(), "(line 3)") {
		t.Fatalf("unset variable: %v", err)
	}
}

func TestConfigDefaultsAndEnv(t *testing.T) {
	t.Setenv("EDGEPM_GATEWAY_ID", "env-gw")
	t.Setenv("EDGEPM_KAFKA_BROKERS", "a:9092, b:9092")
	t.Setenv("EDGEPM_MQTT_PASSWORD", "pw")
	cfg, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GatewayID != "env-gw" || cfg.Kafka.GatewayID != "env-gw" {
		t.Errorf("gateway id %q / %q", cfg.GatewayID, cfg.Kafka.GatewayID)
	}
	if len(cfg.Kafka.Brokers) != 2 || cfg.Kafka.Brokers[1] != "b:9092" {
		t.Errorf("brokers %v", cfg.Kafka.Brokers)
	}
	if cfg.MQTT.Password != "pw" || cfg.MQTT.ClientID != "edgepm-env-gw" {
		t.Errorf("mqtt %+v", cfg.MQTT)
	}
	if cfg.DataDir != "/var/lib/edgepm" || cfg.HTTP.Listen != "127.0.0.1:9510" || cfg.ShutdownTimeout != 20*time.Second {
		t.Errorf("defaults: %+v", cfg)
	}
	if !*cfg.Buffer.Fsync || *cfg.MQTT.Subscriptions[0].QoS != 1 || cfg.MQTT.Subscriptions[0].Format != "edgepm" {
		t.Error("durable defaults not applied")
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	f := filepath.Join("..", "deploy", "edgepm.yaml")
	if _, err := os.Stat(f); err != nil {
		t.Skip("no deploy/edgepm.yaml")
	}
	t.Setenv("EDGEPM_GATEWAY_ID", "")
	cfg, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	// The example leaves gateway_id to the host name: copied across a
	// fleet, a fixed id would make (gateway, stream, seq) collide.
	if host, _ := os.Hostname(); host != "" && cfg.GatewayID != host {
		t.Errorf("example config's gateway_id %q, want the host name %q", cfg.GatewayID, host)
	}
}

// fleet.heartbeat_interval defaults to 30s and adds the gateways buffer
// stream (capped, above the lowest priority); 0 or fleet.enabled false
// turn heartbeats off and leave the buffer's streams as they were, while
// buffer.streams.gateways still loads.
func TestFleetHeartbeatConfig(t *testing.T) {
	cfg, err := Parse([]byte("gateway_id: gw\nbuffer: {max_bytes: 1073741824}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Fleet.heartbeatInterval(); d != DefaultHeartbeatInterval {
		t.Errorf("default heartbeat interval %s", d)
	}
	gs, ok := cfg.Buffer.options().Streams[wire.StreamGateways]
	if !ok || gs.MaxBytes != 1<<20 || gs.Priority != 80 || gs.Overflow != buffer.DropOldest {
		t.Errorf("gateways stream %+v, %v", gs, ok)
	}
	for _, off := range []string{"fleet: {heartbeat_interval: 0s}", "fleet: {enabled: false}"} {
		cfg, err := Parse([]byte("gateway_id: gw\n" + off + "\nbuffer: {streams: {gateways: {max_bytes: 4096}}}\n"))
		if err != nil {
			t.Fatalf("%s: %v", off, err)
		}
		if d := cfg.Fleet.heartbeatInterval(); d != 0 {
			t.Errorf("%s: heartbeat interval %s, want 0 (off)", off, d)
		}
		if _, ok := cfg.Buffer.options().Streams[wire.StreamGateways]; ok {
			t.Errorf("%s: the buffer has a gateways stream", off)
		}
	}
}
