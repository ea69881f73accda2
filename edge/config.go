package edge

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/edge/ingest"
)

// Config is the appliance's configuration (docs/configuration.md). The zero
// value of every field means its documented default; Load applies defaults,
// environment overrides and validation.
type Config struct {
	// GatewayID names this gateway in every record. Default: host name.
	GatewayID string `yaml:"gateway_id"`
	// DataDir holds the buffer and the active model. Default /var/lib/edgepm
	// (systemd's StateDirectory).
	DataDir string `yaml:"data_dir"`
	// LogLevel is debug, info (default), warn or error. LogFormat is text
	// (default) or json.
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
	// ShutdownTimeout bounds the ordered drain on SIGTERM. Default 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	HTTP       HTTPConfig              `yaml:"http"`
	MQTT       ingest.MQTTConfig       `yaml:"mqtt"`
	Validation ingest.ValidationConfig `yaml:"validation"`
	Buffer     BufferConfig            `yaml:"buffer"`
	Kafka      bridge.Config           `yaml:"kafka"`
	Inference  InferenceConfig         `yaml:"inference"`
	Fleet      FleetConfig             `yaml:"fleet"`
}

// HTTPConfig configures the local health/metrics/status server.
type HTTPConfig struct {
	// Listen is the address. Default 127.0.0.1:9510. Keep it on loopback
	// or a management network: it is not authenticated.
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiler under /debug/pprof/. Default false.
	Pprof bool `yaml:"pprof"`
}

// Load reads a YAML config file strictly (unknown keys are errors), applies
// environment overrides (EDGEPM_*), defaults, and validates it. An empty
// path loads the defaults.
func Load(path string) (Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		data = b
	}
	cfg, err := Parse(data)
	if err != nil {
		if path != "" {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
		return Config{}, err
	}
	return cfg, nil
}

// Parse is Load for bytes.
func Parse(data []byte) (Config, error) {
	var cfg Config
	if len(bytes.TrimSpace(data)) > 0 {
		if err := decodeYAML(data, &cfg, os.LookupEnv); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.applyEnv(os.LookupEnv); err != nil {
		return Config{}, err
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// setDefaults fills zero fields with their defaults.
func (c *Config) setDefaults() {
	if c.GatewayID == "" {
		c.GatewayID = defaultGatewayID()
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/edgepm"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:9510"
	}
	c.MQTT.SetDefaults(c.GatewayID)
	c.Validation.SetDefaults()
	c.Buffer.setDefaults()
	c.Fleet.setDefaults()
	c.Buffer.heartbeats = c.Fleet.heartbeatInterval() > 0
	if c.Kafka.GatewayID == "" {
		c.Kafka.GatewayID = c.GatewayID
	}
	c.Kafka = c.Kafka.WithDefaults()
	c.Inference.setDefaults()
}

// validate names the first bad field and its value.
func (c *Config) validate() error {
	if c.GatewayID == "" || strings.ContainsAny(c.GatewayID, " /\t\n") {
		return fmt.Errorf("gateway_id: must be non-empty without spaces or '/', got %q", c.GatewayID)
	}
	if !filepath.IsAbs(c.DataDir) {
		return fmt.Errorf("data_dir: must be an absolute path, got %q", c.DataDir)
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format: must be text or json, got %q", c.LogFormat)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("shutdown_timeout: must be > 0, got %s", c.ShutdownTimeout)
	}
	if c.Kafka.GatewayID != c.GatewayID {
		return fmt.Errorf("kafka.gateway_id: leave it unset or equal to gateway_id (%q), got %q", c.GatewayID, c.Kafka.GatewayID)
	}
	if err := c.MQTT.Validate(); err != nil {
		return err
	}
	if err := c.Validation.Validate(); err != nil {
		return err
	}
	for _, v := range []interface{ validate() error }{&c.Fleet, &c.Buffer, &c.Inference} {
		if err := v.validate(); err != nil {
			return err
		}
	}
	if err := c.Kafka.Validate(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return c.checkLimits()
}

// ParseLogLevel maps a log_level string to a slog level.
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level: must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

func defaultGatewayID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "edgepm"
	}
	return h
}
