package bridge

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgepm/edgepm/internal/tlsconf"
)

// Defaults applied by Config for zero values.
const (
	DefaultTopicPrefix     = "edgepm."
	DefaultBroker          = "localhost:9092"
	DefaultCompression     = "zstd"
	DefaultLinger          = 5 * time.Millisecond
	DefaultBatchMaxBytes   = 1 << 20 // 1 MiB, below Kafka's default message.max.bytes (1048588)
	DefaultMaxInFlight     = 20000   // records produced and not yet acknowledged
	DefaultReadBatch       = 1000    // records per buffer read
	DefaultAckInterval     = 100 * time.Millisecond
	DefaultPollInterval    = 20 * time.Millisecond
	DefaultShutdownTimeout = 5 * time.Second
	DefaultPingInterval    = 5 * time.Second
	DefaultOfflineAfter    = 15 * time.Second
	DefaultRetryBackoffMin = 250 * time.Millisecond
	DefaultRetryBackoffMax = 30 * time.Second
	DefaultPartitions      = 3
	DefaultModelsTopic     = "models" // prefixed like every topic: edgepm.models
)

// Config configures the Kafka side of the appliance. The zero value of every
// field means its documented default, so an empty Config is valid (it talks
// to localhost:9092 without TLS or SASL). Keys are snake_case in YAML.
type Config struct {
	// Brokers are the seed brokers, host:port. Default [localhost:9092].
	Brokers []string `yaml:"brokers"`
	// TopicPrefix is put in front of every stream name to make its topic.
	// Default "edgepm." (edgepm.readings, edgepm.alerts, ...).
	TopicPrefix string `yaml:"topic_prefix"`
	// ClientID is the Kafka client id. Default "edgepm-<gateway_id>".
	ClientID string `yaml:"client_id"`
	// GatewayID names this gateway in the edgepm-gateway header and in
	// events. Default: the host name. Letters, digits, '.', '_', '-', at
	// most 128 characters.
	GatewayID string `yaml:"gateway_id"`
	// Compression of produced batches: zstd (default), lz4, snappy, gzip or none.
	Compression string `yaml:"compression"`
	// Linger is how long a partition's batch may wait to fill. Default 5ms.
	Linger time.Duration `yaml:"linger"`
	// BatchMaxBytes caps one produced record batch. Default 1 MiB. It must
	// not exceed the broker's message.max.bytes.
	BatchMaxBytes int `yaml:"batch_max_bytes"`
	// MaxInFlight bounds the records handed to Kafka and not yet
	// acknowledged, over all streams. Default 20000. One stream holds at
	// most this less ReadBatch per other stream (at most half), a failing
	// one at most 64 (health.go).
	MaxInFlight int `yaml:"max_in_flight"`
	// ReadBatch is how many records one buffer read returns at most. Default 1000.
	ReadBatch int `yaml:"read_batch"`
	// AckInterval is how often acknowledged records are deleted from the
	// buffer. Default 100ms.
	AckInterval time.Duration `yaml:"ack_interval"`
	// PollInterval is how often an idle stream is polled for new records.
	// Default 20ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// ShutdownTimeout bounds how long Run waits, once its context ends, for
	// in-flight records to be acknowledged. Default 5s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Backlog controls how a backlog built up during an outage is sent.
	Backlog BacklogConfig `yaml:"backlog"`
	// Link controls online/offline detection.
	Link LinkConfig `yaml:"link"`
	// TLS for the broker connections.
	TLS TLSConfig `yaml:"tls"`
	// SASL authentication.
	SASL SASLConfig `yaml:"sasl"`
	// CreateTopics creates missing topics at start-up with kadm (the
	// models topic compacted). Default false: topics are managed centrally.
	CreateTopics bool `yaml:"create_topics"`
	// Partitions and ReplicationFactor for created topics. Defaults 3 and
	// -1 (the broker's default).
	Partitions        int `yaml:"partitions"`
	ReplicationFactor int `yaml:"replication_factor"`
}

// BacklogConfig limits the rate at which a backlog drains beside live data.
type BacklogConfig struct {
	// RateLimit is the most backlog records per second; 0 = unlimited.
	RateLimit float64 `yaml:"rate_limit"`
	// ByteRateLimit is the most backlog value+key bytes per second; 0 = unlimited.
	ByteRateLimit int64 `yaml:"byte_rate_limit"`
}

// LinkConfig tunes online/offline detection.
type LinkConfig struct {
	// PingInterval is how often a healthy link is probed. Default 5s.
	PingInterval time.Duration `yaml:"ping_interval"`
	// OfflineAfter declares the link offline when records of a stream that
	// is not failing are in flight and nothing, on any stream, was
	// acknowledged for this long. A stream whose records wait this long
	// while others are acknowledged is failing instead. Default 15s.
	OfflineAfter time.Duration `yaml:"offline_after"`
	// RetryBackoffMin and RetryBackoffMax bound the exponential, jittered
	// backoff between probes while offline. Defaults 250ms and 30s.
	RetryBackoffMin time.Duration `yaml:"retry_backoff_min"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
}

// TLSConfig enables TLS to the brokers (the same shape as mqtt.tls).
type TLSConfig = tlsconf.Config

// SASLConfig authenticates to the brokers. Mechanism "" means no SASL.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password is never logged nor shown in status.
	Password string `yaml:"password"`
}

// String hides the password.
func (s SASLConfig) String() string {
	return fmt.Sprintf("{mechanism:%s username:%s password:<redacted>}", s.Mechanism, s.Username)
}

// LogValue hides the password from slog.
func (s SASLConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mechanism", s.Mechanism), slog.String("username", s.Username))
}

var gatewayIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{DefaultBroker}
	}
	def(&c.TopicPrefix, DefaultTopicPrefix)
	if c.GatewayID == "" {
		c.GatewayID = defaultGatewayID()
	}
	def(&c.ClientID, "edgepm-"+c.GatewayID)
	def(&c.Compression, DefaultCompression)
	def(&c.Linger, DefaultLinger)
	def(&c.BatchMaxBytes, DefaultBatchMaxBytes)
	def(&c.MaxInFlight, DefaultMaxInFlight)
	def(&c.ReadBatch, DefaultReadBatch)
	def(&c.AckInterval, DefaultAckInterval)
	def(&c.PollInterval, DefaultPollInterval)
	def(&c.ShutdownTimeout, DefaultShutdownTimeout)
	def(&c.Link.PingInterval, DefaultPingInterval)
	def(&c.Link.OfflineAfter, DefaultOfflineAfter)
	def(&c.Link.RetryBackoffMin, DefaultRetryBackoffMin)
	def(&c.Link.RetryBackoffMax, DefaultRetryBackoffMax)
	def(&c.Partitions, DefaultPartitions)
	def(&c.ReplicationFactor, -1)
	return c
}

func def[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

func defaultGatewayID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "gateway"
	}
	h = strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, h)
	if len(h) > 128 {
		h = h[:128]
	}
	return h
}

// Topic returns the Kafka topic of a buffer stream (or of "models").
func (c Config) Topic(stream string) string {
	p := c.TopicPrefix
	if p == "" {
		p = DefaultTopicPrefix
	}
	return p + stream
}

// Validate checks c (after defaults) and names the first bad field and value.
func (c Config) Validate() error {
	c = c.WithDefaults()
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			return fmt.Errorf("%w: kafka.brokers[%d]: must be host:port, got %q", ErrInvalidConfig, i, b)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: kafka.brokers[%d]: port must be 1..65535, got %q", ErrInvalidConfig, i, b)
		}
	}
	if !topicPrefixRe.MatchString(c.TopicPrefix) {
		return fmt.Errorf("%w: kafka.topic_prefix: letters, digits, '.', '_', '-' only, got %q", ErrInvalidConfig, c.TopicPrefix)
	}
	if !gatewayIDRe.MatchString(c.GatewayID) {
		return fmt.Errorf("%w: kafka.gateway_id: 1-128 letters, digits, '.', '_', '-', got %q", ErrInvalidConfig, c.GatewayID)
	}
	if _, err := codec(c.Compression); err != nil {
		return err
	}
	if err := c.validateNumbers(); err != nil {
		return err
	}
	if err := c.TLS.Validate("kafka.tls"); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return c.SASL.validate()
}

var topicPrefixRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

func (c Config) validateNumbers() error {
	checks := []struct {
		name string
		bad  bool
		got  any
	}{
		{"linger", c.Linger < 0 || c.Linger > time.Minute, c.Linger},
		{"batch_max_bytes", c.BatchMaxBytes < 1024 || c.BatchMaxBytes > 1<<30, c.BatchMaxBytes},
		{"max_in_flight", c.MaxInFlight < 1, c.MaxInFlight},
		{"read_batch", c.ReadBatch < 1, c.ReadBatch},
		{"ack_interval", c.AckInterval < 0, c.AckInterval},
		{"poll_interval", c.PollInterval < 0, c.PollInterval},
		{"shutdown_timeout", c.ShutdownTimeout < 0, c.ShutdownTimeout},
		{"backlog.rate_limit", c.Backlog.RateLimit < 0, c.Backlog.RateLimit},
		{"backlog.byte_rate_limit", c.Backlog.ByteRateLimit < 0, c.Backlog.ByteRateLimit},
		{"link.ping_interval", c.Link.PingInterval < 0, c.Link.PingInterval},
		{"link.offline_after", c.Link.OfflineAfter < 0, c.Link.OfflineAfter},
		{"link.retry_backoff_min", c.Link.RetryBackoffMin < 0, c.Link.RetryBackoffMin},
		{"link.retry_backoff_max", c.Link.RetryBackoffMax < c.Link.RetryBackoffMin, c.Link.RetryBackoffMax},
		{"partitions", c.Partitions < 1, c.Partitions},
		{"replication_factor", c.ReplicationFactor < -1 || c.ReplicationFactor == 0, c.ReplicationFactor},
	}
	for _, ch := range checks {
		if ch.bad {
			return fmt.Errorf("%w: kafka.%s: out of range, got %v", ErrInvalidConfig, ch.name, ch.got)
		}
	}
	return nil
}

func (s SASLConfig) validate() error {
	switch s.Mechanism {
	case "":
		return nil
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return fmt.Errorf("%w: kafka.sasl.mechanism: must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q",
			ErrInvalidConfig, s.Mechanism)
	}
	if s.Username == "" {
		return fmt.Errorf("%w: kafka.sasl.username: required with mechanism %s, got \"\"", ErrInvalidConfig, s.Mechanism)
	}
	if s.Password == "" {
		return fmt.Errorf("%w: kafka.sasl.password: required with mechanism %s, got an empty password", ErrInvalidConfig, s.Mechanism)
	}
	return nil
}
