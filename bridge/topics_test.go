package bridge

import (
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// cleanupPolicy is a topic's cleanup.policy as the broker describes it.
func cleanupPolicy(t *testing.T, adm *kadm.Client, topic string) string {
	t.Helper()
	ctx, cancel := contextTimeout(10 * time.Second)
	defer cancel()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// With create_topics, the gateways stream's topic is created compacted like
// the models topic (the others keep the broker's default); a gateways topic
// that exists and is not compacted is warned about, naming it.
func TestGatewaysTopicCompacted(t *testing.T) {
	k := testenv.StartKafka(t)
	cfg := testConfig(k.Seeds())
	cfg.CreateTopics = true
	cfg = cfg.WithDefaults()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := contextTimeout(20 * time.Second)
	defer cancel()
	if err := ensureTopics(ctx, cl, cfg, []string{"readings", wire.StreamGateways}, nil); err != nil {
		t.Fatal(err)
	}
	if p := cleanupPolicy(t, adm, "edgepm.gateways"); p != "compact" {
		t.Errorf("edgepm.gateways created with cleanup.policy %q, want compact", p)
	}
	if p := cleanupPolicy(t, adm, "edgepm.readings"); p == "compact" {
		t.Error("edgepm.readings created compacted")
	}

	cfg.TopicPrefix, cfg.CreateTopics = "plain.", false
	if _, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, "plain.gateways"); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	if err := ensureTopics(ctx, cl, cfg, []string{wire.StreamGateways}, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if w := logs.lines("gateways topic is not compacted"); len(w) != 1 || !contains(w[0], "topic=plain.gateways") {
		t.Errorf("warnings %q, want one naming plain.gateways", logs.lines("WARN"))
	}
}
