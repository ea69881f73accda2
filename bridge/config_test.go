package bridge

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func loadTestConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

func TestGoodConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/config/*.good.yaml")
	if len(files) == 0 {
		t.Fatal("no good configs")
	}
	for _, f := range files {
		if _, err := loadTestConfig(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestBadConfigs(t *testing.T) {
	want := map[string]string{
		"broker.bad.yaml":      `kafka.brokers[0]: port must be 1..65535, got "kafka:9092x"`,
		"compression.bad.yaml": `kafka.compression: must be zstd, lz4, snappy, gzip or none, got "brotli"`,
		"saslmech.bad.yaml":    `kafka.sasl.mechanism: must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got "GSSAPI"`,
		"saslpw.bad.yaml":      `kafka.sasl.password: required with mechanism PLAIN`,
		"gateway.bad.yaml":     `kafka.gateway_id: 1-128 letters, digits, '.', '_', '-', got "gw 17"`,
		"inflight.bad.yaml":    `kafka.max_in_flight: out of range, got -1`,
		"tlspair.bad.yaml":     `kafka.tls: cert_file and key_file go together`,
		"tlsca.bad.yaml":       `kafka.tls.ca_file: "/nonexistent/ca.pem"`,
		"rate.bad.yaml":        `kafka.backlog.rate_limit: out of range, got -5`,
		"unknown.bad.yaml":     `field brokerz not found`,
	}
	files, _ := filepath.Glob("testdata/config/*.bad.yaml")
	if len(files) != len(want) {
		t.Fatalf("%d bad files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		msg, ok := want[filepath.Base(f)]
		if !ok {
			t.Errorf("%s: no expectation", f)
			continue
		}
		_, err := loadTestConfig(f)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want %q", f, err, msg)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.TopicPrefix != "edgepm." || c.Compression != "zstd" || c.Brokers[0] != "localhost:9092" ||
		c.MaxInFlight != DefaultMaxInFlight || c.ClientID != "edgepm-"+c.GatewayID || c.Topic("readings") != "edgepm.readings" {
		t.Fatalf("defaults %+v", c)
	}
}
