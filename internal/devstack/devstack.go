// Package devstack runs the development stack that the demo and manual
// testing use: an MQTT broker (embedded mochi-mqtt, or Mosquitto with
// edgepm's drop-in when Options.Mosquitto is set) and a Kafka-protocol
// broker (kfake) with a data dir and edgepm's topics, the models topic
// compacted. It is dev-only: production binaries never import it.
//
// Start returns once both brokers listen; Close stops them. A Stack is safe
// for concurrent use.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Default loopback addresses: away from a system Mosquitto (1883) or Kafka
// (9092) on the same machine.
const (
	DefaultMQTTAddr  = "127.0.0.1:11883"
	DefaultKafkaPort = 19092
)

// Streams whose topics the stack creates (prefix "edgepm."), besides the
// compacted ones: CompactedTopics.
var Streams = []string{"readings", "predictions", "alerts", "events", "deadletter"}

// CompactedTopics are the topics the stack creates with
// cleanup.policy=compact (prefix "edgepm."): the models topic and the
// gateways' heartbeats, so that a gateway without kafka.create_topics is
// ready against the stack.
var CompactedTopics = []string{"models", "gateways"}

// Options configures the stack.
type Options struct {
	MQTTAddr     string // default DefaultMQTTAddr
	KafkaPort    int    // default DefaultKafkaPort
	DataDir      string // kfake data dir; empty = in memory
	TopicPrefix  string // default "edgepm."
	Partitions   int32  // default 3
	MaxMessageMB int    // broker message.max.bytes in MiB; default 1 (Kafka's default)
	Logger       *slog.Logger
	// Mosquitto, when set, is the mosquitto binary to run as the MQTT
	// broker instead of the embedded one, configured with the drop-in file
	// MosquittoDropIn (deploy/mosquitto/edgepm.conf) as a gateway is. Its
	// config and persistence go to DataDir/mosquitto (a temp dir without
	// DataDir).
	Mosquitto       string
	MosquittoDropIn string
}

// Stack is a running dev stack.
type Stack struct {
	MQTTURL    string
	KafkaSeeds []string
	mqtt       *mochi.Server
	mosq       *mosquitto
	kafka      *kfake.Cluster
}

// Start starts both brokers and creates the topics.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.MQTTAddr == "" {
		o.MQTTAddr = DefaultMQTTAddr
	}
	if o.KafkaPort == 0 {
		o.KafkaPort = DefaultKafkaPort
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = "edgepm."
	}
	if o.Partitions == 0 {
		o.Partitions = 3
	}
	if o.MaxMessageMB == 0 {
		o.MaxMessageMB = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stack{}
	if err := s.startMQTT(o); err != nil {
		return nil, err
	}
	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(o.KafkaPort),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": fmt.Sprint(o.MaxMessageMB << 20)})}
	if o.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(o.DataDir))
	}
	kc, err := kfake.NewCluster(kopts...)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("kafka broker on port %d: %w", o.KafkaPort, err)
	}
	s.kafka, s.KafkaSeeds = kc, kc.ListenAddrs()
	if err := s.createTopics(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// startMQTT starts Mosquitto (o.Mosquitto) or the embedded broker.
func (s *Stack) startMQTT(o Options) error {
	s.MQTTURL = "tcp://" + o.MQTTAddr
	if o.Mosquitto != "" {
		dir := filepath.Join(o.DataDir, "mosquitto")
		if o.DataDir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "devstack-mosquitto-"); err != nil {
				return err
			}
		}
		m, err := startMosquitto(o.Mosquitto, o.MQTTAddr, o.MosquittoDropIn, dir)
		s.mosq = m
		return err
	}
	srv := mochi.New(&mochi.Options{InlineClient: false, Logger: o.Logger.With("component", "mqtt-broker")})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return fmt.Errorf("mqtt broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: o.MQTTAddr})); err != nil {
		return fmt.Errorf("mqtt broker listen %s: %w", o.MQTTAddr, err)
	}
	if err := srv.Serve(); err != nil {
		return fmt.Errorf("mqtt broker: %w", err)
	}
	s.mqtt = srv
	return nil
}

func (s *Stack) createTopics(ctx context.Context, o Options) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaSeeds...))
	if err != nil {
		return fmt.Errorf("kafka admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	topics := make([]string, 0, len(Streams))
	for _, st := range Streams {
		topics = append(topics, o.TopicPrefix+st)
	}
	if err := createIgnoringExisting(ctx, adm, o.Partitions, nil, topics...); err != nil {
		return err
	}
	compact := "compact"
	for _, t := range CompactedTopics {
		if err := createIgnoringExisting(ctx, adm, 1, map[string]*string{"cleanup.policy": &compact}, o.TopicPrefix+t); err != nil {
			return err
		}
	}
	return nil
}

func createIgnoringExisting(ctx context.Context, adm *kadm.Client, parts int32, cfg map[string]*string, topics ...string) error {
	resp, err := adm.CreateTopics(ctx, parts, 1, cfg, topics...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerrTopicExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// Close stops both brokers. Idempotent.
func (s *Stack) Close() {
	if s.mqtt != nil {
		_ = s.mqtt.Close()
		s.mqtt = nil
	}
	if s.mosq != nil {
		s.mosq.stop()
		s.mosq = nil
	}
	if s.kafka != nil {
		s.kafka.Close()
		s.kafka = nil
	}
}
