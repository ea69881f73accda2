package testenv

import (
	"fmt"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaServer is a kfake Kafka-protocol cluster on a fixed loopback port with
// a data dir, so Stop and Start can take the broker away and bring it back
// with its data, as a restarted Kafka broker would.
type KafkaServer struct {
	t    testing.TB
	opts []kfake.Opt
	Port int
	Dir  string

	mu      sync.Mutex
	cluster *kfake.Cluster
}

// StartKafka starts a single-broker kfake cluster on loopback, on a fixed
// port with a data dir, and returns the restartable server (Seeds, Cluster,
// Stop, Start). Defaults: 1 partition per topic and automatic topic
// creation; opts are applied after the defaults and can override them. The
// cluster is closed in t.Cleanup.
func StartKafka(t testing.TB, opts ...kfake.Opt) *KafkaServer {
	t.Helper()
	s := &KafkaServer{t: t, Port: FreePort(t), Dir: t.TempDir()}
	s.opts = append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DataDir(s.Dir),
	}, opts...)
	s.opts = append(s.opts, kfake.Ports(s.Port))
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Seeds returns the broker's address.
func (s *KafkaServer) Seeds() []string { return []string{fmt.Sprintf("127.0.0.1:%d", s.Port)} }

// Cluster returns the running cluster, or nil while stopped.
func (s *KafkaServer) Cluster() *kfake.Cluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cluster
}

// Start (re)starts the cluster on its port with its data dir.
func (s *KafkaServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cluster != nil {
		return
	}
	c, err := kfake.NewCluster(s.opts...)
	if err != nil {
		s.t.Fatalf("start kfake on port %d: %v", s.Port, err)
	}
	s.cluster = c
}

// Stop closes the cluster (its data stays in Dir). Idempotent.
func (s *KafkaServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cluster == nil {
		return
	}
	s.cluster.Close()
	s.cluster = nil
}
