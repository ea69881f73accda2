package devstack

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestStartTwice(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ { // the second start finds the topics in the data dir
		s, err := Start(context.Background(), Options{MQTTAddr: "127.0.0.1:0", KafkaPort: testenv.FreePort(t), DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s.Close()
	}
}

// TestStartMosquitto: the stack runs Mosquitto with the shipped drop-in
// (what `make run` does where Mosquitto is installed) and stops it.
func TestStartMosquitto(t *testing.T) {
	bin := MosquittoBin()
	if bin == "" {
		testenv.Missing(t, "mosquitto is not installed")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	s, err := Start(context.Background(), Options{MQTTAddr: addr, KafkaPort: testenv.FreePort(t), DataDir: t.TempDir(),
		Mosquitto: bin, MosquittoDropIn: filepath.Join(testenv.RepoRoot(), "deploy", "mosquitto", "edgepm.conf")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	s.Close()
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Error("mosquitto still listening after Close")
	}
}

// TestTopics: the stack creates every stream topic a gateway writes, the
// models and gateways topics compacted, so that a gateway without
// kafka.create_topics is ready against it (examples/pytorch-fd001/serve.sh).
func TestTopics(t *testing.T) {
	s, err := Start(context.Background(), Options{MQTTAddr: "127.0.0.1:0", KafkaPort: testenv.FreePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaSeeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var want []string
	for _, st := range append(append([]string{}, Streams...), "models", "gateways") {
		want = append(want, "edgepm."+st)
	}
	cfgs, err := adm.DescribeTopicConfigs(context.Background(), want...)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, rc := range cfgs {
		if rc.Err != nil {
			t.Errorf("topic %s: %v", rc.Name, rc.Err)
			continue
		}
		got[rc.Name] = "delete"
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				got[rc.Name] = *c.Value
			}
		}
	}
	for _, topic := range want {
		policy := "delete"
		if topic == "edgepm.models" || topic == "edgepm.gateways" {
			policy = "compact"
		}
		if got[topic] != policy {
			t.Errorf("topic %s: cleanup.policy %q, want %q", topic, got[topic], policy)
		}
	}
}
