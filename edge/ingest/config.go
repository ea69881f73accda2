package ingest

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/edgepm/edgepm/internal/tlsconf"
)

// Subscription is one MQTT subscription: a topic template, its QoS and
// the format of its payloads.
type Subscription struct {
	// Topic is a template such as "plant/{site}/{line}/{device}/telemetry".
	Topic string `yaml:"topic"`
	// QoS is 0 or 1. Default 1 (acknowledged only after the buffer commit).
	QoS *byte `yaml:"qos"`
	// Format is the payload format of the subscription's messages:
	// "edgepm" (FormatEdgepm, the default), "flat", "telegraf",
	// "waveform_f32le", "sparkplug_b" (which takes no topic).
	Format string `yaml:"format"`
	// Flat maps payloads of format "flat" (only for that format).
	Flat *FlatMapping `yaml:"flat,omitempty"`
	// Telegraf maps payloads of format "telegraf" (only for that format).
	Telegraf *TelegrafMapping `yaml:"telegraf,omitempty"`
	// Waveform describes payloads of format "waveform_f32le" (only for
	// that format, and required by it).
	Waveform *WaveformMapping `yaml:"waveform,omitempty"`
	// Sparkplug configures a sparkplug_b subscription (only with that
	// format); its topics follow from it, not from Topic.
	Sparkplug *SparkplugConfig `yaml:"sparkplug,omitempty"`
}

// template returns the subscription's topic template: Topic parsed, or
// for sparkplug_b the Sparkplug topics of its sparkplug block (defaults
// applied).
func (s *Subscription) template() (*TopicTemplate, error) {
	if s.Format == FormatSparkplugB && s.Sparkplug != nil {
		return sparkplugTemplate(s.Sparkplug), nil
	}
	return ParseTopicTemplate(s.Topic)
}

// TLSConfig configures TLS for a client connection (the same shape as
// kafka.tls).
type TLSConfig = tlsconf.Config

// MQTTConfig configures MQTT ingest and local alert publishing.
type MQTTConfig struct {
	// Broker is the MQTT broker URL. Default tcp://127.0.0.1:1883.
	Broker string `yaml:"broker"`
	// ClientID is fixed so the broker keeps the session. Default
	// "edgepm-<gateway_id>".
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	// Password is never logged.
	Password string `yaml:"password"`
	// CleanSession false (default) keeps a persistent session, so QoS 1
	// messages that arrive while edgepm is down are delivered later.
	CleanSession bool      `yaml:"clean_session"`
	TLS          TLSConfig `yaml:"tls"`
	// Subscriptions default to plant/{site}/{line}/{device}/telemetry QoS 1.
	Subscriptions []Subscription `yaml:"subscriptions"`
	// MaxUnacked bounds the QoS 1 messages received but not yet committed
	// and acknowledged; when it is reached ingest stops reading from the
	// broker (backpressure). Default 2000.
	MaxUnacked int `yaml:"max_unacked"`
	// KeepAlive default 30s; ConnectTimeout default 10s; MaxReconnectInterval
	// default 30s.
	KeepAlive            time.Duration `yaml:"keep_alive"`
	ConnectTimeout       time.Duration `yaml:"connect_timeout"`
	MaxReconnectInterval time.Duration `yaml:"max_reconnect_interval"`
	// AlertTopic is the template local alerts are published to; fields are
	// the reading's topic captures plus {device} and {gateway}. Default
	// "edgepm/{gateway}/alerts/{device}". Empty string after defaults
	// means no local publishing is possible, so it is required.
	AlertTopic string `yaml:"alert_topic"`
	// AlertQoS default 1.
	AlertQoS *byte `yaml:"alert_qos"`
	// AlertRetain publishes alerts retained, so an HMI that connects later
	// sees each device's last alert state. Default false.
	AlertRetain bool `yaml:"alert_retain"`
}

func bytePtr(b byte) *byte { return &b }

// SetDefaults fills zero fields with their documented defaults; gateway
// is the gateway id (for the default client id).
func (c *MQTTConfig) SetDefaults(gateway string) {
	if c.Broker == "" {
		c.Broker = "tcp://127.0.0.1:1883"
	}
	if c.ClientID == "" {
		c.ClientID = "edgepm-" + gateway
	}
	if len(c.Subscriptions) == 0 {
		c.Subscriptions = []Subscription{{Topic: "plant/{site}/{line}/{device}/telemetry"}}
	}
	for i := range c.Subscriptions {
		if c.Subscriptions[i].QoS == nil {
			c.Subscriptions[i].QoS = bytePtr(1)
		}
		if c.Subscriptions[i].Format == "" {
			c.Subscriptions[i].Format = FormatEdgepm
		}
		c.Subscriptions[i].setMappingDefaults()
		if c.Subscriptions[i].Format == FormatSparkplugB {
			if c.Subscriptions[i].Sparkplug == nil {
				c.Subscriptions[i].Sparkplug = &SparkplugConfig{}
			}
			c.Subscriptions[i].Sparkplug.setDefaults()
		}
	}
	if c.MaxUnacked == 0 {
		c.MaxUnacked = 2000
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 30 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxReconnectInterval == 0 {
		c.MaxReconnectInterval = 30 * time.Second
	}
	if c.AlertTopic == "" {
		c.AlertTopic = "edgepm/{gateway}/alerts/{device}"
	}
	if c.AlertQoS == nil {
		c.AlertQoS = bytePtr(1)
	}
}

// Validate names the first bad field (by its mqtt.* key) and its value.
func (c *MQTTConfig) Validate() error {
	if !strings.Contains(c.Broker, "://") {
		return fmt.Errorf("mqtt.broker: want scheme://host:port (tcp, ssl, ws, wss), got %q", c.Broker)
	}
	for i, s := range c.Subscriptions {
		if err := s.validateSparkplug(fmt.Sprintf("mqtt.subscriptions[%d]", i)); err != nil {
			return err
		}
		tt, err := s.template()
		if err != nil {
			return fmt.Errorf("mqtt.subscriptions[%d].topic: %w", i, err)
		}
		if *s.QoS > 1 {
			return fmt.Errorf("mqtt.subscriptions[%d].qos: must be 0 or 1, got %d", i, *s.QoS)
		}
		if _, ok := formats[s.Format]; !ok && s.Format != "" {
			return fmt.Errorf("mqtt.subscriptions[%d].format: unknown payload format %q (known: %s)",
				i, s.Format, strings.Join(formatNames(), ", "))
		}
		if err := c.Subscriptions[i].validateMapping(i, tt); err != nil {
			return err
		}
	}
	if c.MaxUnacked < 0 {
		return fmt.Errorf("mqtt.max_unacked: must be > 0, got %d", c.MaxUnacked)
	}
	if *c.AlertQoS > 1 {
		return fmt.Errorf("mqtt.alert_qos: must be 0 or 1, got %d", *c.AlertQoS)
	}
	if err := c.TLS.Validate("mqtt.tls"); err != nil {
		return err
	}
	return nil
}

// RedactURL hides a password in a broker URL (tcp://user:pass@host) before
// it is logged, shown or sent anywhere.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
