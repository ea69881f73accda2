package edge_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// readyz is one answer of /readyz.
type readyz struct {
	code       int
	Ready      bool     `json:"ready"`
	Conditions []string `json:"conditions"`
}

func (s *stack) readyz() readyz {
	s.t.Helper()
	resp, err := http.Get("http://" + s.app.HTTPAddr() + "/readyz")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := readyz{code: resp.StatusCode}
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("/readyz %d: %v: %s", resp.StatusCode, err, b)
	}
	return r
}

// createKafkaTopics creates topics (one partition each) on the stack's
// Kafka, as an operator would with kafka.create_topics false.
func (s *stack) createKafkaTopics(topics ...string) {
	s.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.kafka.Seeds()...))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		s.t.Fatalf("create topics %v: %v", topics, err)
	}
}

// TestReadyzNamesMissingTopic: with kafka.create_topics false and the
// events topic not created, the appliance is not ready (503) and /readyz
// names the topic while the events stream fails; once the topic is
// created, the held events drain and the appliance is ready again.
func TestReadyzNamesMissingTopic(t *testing.T) {
	s := prepareStack(t, stackOptions{}, "", "")
	s.cfg.Kafka.CreateTopics = false
	s.createKafkaTopics("edgepm.readings", "edgepm.predictions", "edgepm.alerts", "edgepm.deadletter", "edgepm.gateways")
	s.startApp() // appends gateway.started to the events stream
	var r readyz
	s.waitFor("/readyz to name the missing events topic", 60*time.Second, func() bool {
		r = s.readyz()
		return r.code == http.StatusServiceUnavailable && len(r.Conditions) > 0
	})
	if r.Ready || len(r.Conditions) != 1 || !strings.Contains(r.Conditions[0], "kafka topic edgepm.events") {
		t.Fatalf("/readyz %d ready=%v conditions %q, want one condition naming edgepm.events", r.code, r.Ready, r.Conditions)
	}
	s.createKafkaTopics("edgepm.events")
	s.waitFor("/readyz 200 after the topic was created", 60*time.Second, func() bool {
		r = s.readyz()
		return r.code == http.StatusOK
	})
	if !r.Ready || len(r.Conditions) != 0 {
		t.Fatalf("/readyz %d ready=%v conditions %q after the topic was created", r.code, r.Ready, r.Conditions)
	}
}

// TestReadyzNamesMissingGatewaysTopic: the gateways topic is a stream topic
// like the others: missing (kafka.create_topics false), /readyz names it
// while the heartbeats wait in the buffer; created, they drain.
func TestReadyzNamesMissingGatewaysTopic(t *testing.T) {
	s := prepareStack(t, stackOptions{}, "", "fleet: {heartbeat_interval: 1s}")
	s.cfg.Kafka.CreateTopics = false
	s.createKafkaTopics("edgepm.readings", "edgepm.predictions", "edgepm.alerts", "edgepm.deadletter", "edgepm.events")
	s.startApp()
	var r readyz
	s.waitFor("/readyz to name the missing gateways topic", 60*time.Second, func() bool {
		r = s.readyz()
		return r.code == http.StatusServiceUnavailable && len(r.Conditions) > 0
	})
	if len(r.Conditions) != 1 || !strings.Contains(r.Conditions[0], "kafka topic edgepm.gateways") {
		t.Fatalf("/readyz %d conditions %q, want one naming edgepm.gateways", r.code, r.Conditions)
	}
	s.createKafkaTopics("edgepm.gateways")
	s.waitFor("/readyz 200 and the held heartbeats delivered", 60*time.Second, func() bool {
		return s.readyz().code == http.StatusOK && s.gatewaysStream().Acked > 1
	})
}
