package edge

import (
	"fmt"
	"strings"
	"time"
)

// Environment overrides, applied after the file and before defaults. They
// let a fleet share one file and keep secrets out of it (systemd's
// EnvironmentFile or credentials).
var envOverrides = []struct {
	name string
	set  func(c *Config, v string) error
}{
	{"EDGEPM_GATEWAY_ID", func(c *Config, v string) error { c.GatewayID = v; return nil }},
	{"EDGEPM_DATA_DIR", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"EDGEPM_LOG_LEVEL", func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{"EDGEPM_HTTP_LISTEN", func(c *Config, v string) error { c.HTTP.Listen = v; return nil }},
	{"EDGEPM_MQTT_BROKER", func(c *Config, v string) error { c.MQTT.Broker = v; return nil }},
	{"EDGEPM_MQTT_USERNAME", func(c *Config, v string) error { c.MQTT.Username = v; return nil }},
	{"EDGEPM_MQTT_PASSWORD", func(c *Config, v string) error { c.MQTT.Password = v; return nil }},
	{"EDGEPM_KAFKA_BROKERS", func(c *Config, v string) error { c.Kafka.Brokers = splitList(v); return nil }},
	{"EDGEPM_KAFKA_SASL_USERNAME", func(c *Config, v string) error { c.Kafka.SASL.Username = v; return nil }},
	{"EDGEPM_KAFKA_SASL_PASSWORD", func(c *Config, v string) error { c.Kafka.SASL.Password = v; return nil }},
	{"EDGEPM_SHUTDOWN_TIMEOUT", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("EDGEPM_SHUTDOWN_TIMEOUT: %w", err)
		}
		c.ShutdownTimeout = d
		return nil
	}},
	{"ONNXRUNTIME_LIB", func(c *Config, v string) error { c.Inference.ONNXRuntimeLib = v; return nil }},
}

// envOverrideNames lists the environment variables Load honours.
func envOverrideNames() []string {
	out := make([]string, len(envOverrides))
	for i, e := range envOverrides {
		out[i] = e.name
	}
	return out
}

func (c *Config) applyEnv(lookup func(string) (string, bool)) error {
	for _, e := range envOverrides {
		if v, ok := lookup(e.name); ok && v != "" {
			if err := e.set(c, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
