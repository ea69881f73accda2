// Package tlsconf is the client TLS configuration shared by the MQTT and
// Kafka connections: its YAML shape, its validation and the *tls.Config it
// builds. Values are immutable; everything here is safe for concurrent use.
// Validate and Build read files.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Config enables TLS to a broker. TLS is on when Enabled is set or any file
// is given.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the broker's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables broker certificate verification. UNSAFE:
	// anyone on the path can read and change the data. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// On reports whether TLS is enabled.
func (c Config) On() bool { return c.Enabled || c.CAFile != "" || c.CertFile != "" }

// Validate checks that cert and key go together and that every named file
// exists. prefix names the config section in errors ("kafka.tls").
func (c Config) Validate(prefix string) error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return fmt.Errorf("%s: cert_file and key_file go together, got cert_file=%q key_file=%q", prefix, c.CertFile, c.KeyFile)
	}
	for _, f := range []struct{ name, path string }{{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s.%s: %q: %v", prefix, f.name, f.path, err)
		}
	}
	return nil
}

// Build returns the *tls.Config (TLS 1.2 or newer), or nil when TLS is off.
func (c Config) Build(prefix string) (*tls.Config, error) {
	if !c.On() {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // documented as unsafe, opt-in
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read %s.ca_file: %w", prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate in %q", prefix, c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load %s client certificate: %w", prefix, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
