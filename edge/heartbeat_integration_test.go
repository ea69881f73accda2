package edge_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// heartbeats decodes the gateways records consumed, in offset order (one
// key, so one partition), with their edgepm-seq; a record sent again (the
// same seq as one before it) is left out.
func heartbeats(t *testing.T, c *consumed) (hbs []wire.Heartbeat, seqs []uint64) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range c.recs[wire.StreamGateways] {
		if seen[header(r, "edgepm-seq")] {
			continue
		}
		seen[header(r, "edgepm-seq")] = true
		var hb wire.Heartbeat
		if err := json.Unmarshal(r.Value, &hb); err != nil {
			t.Fatalf("heartbeat %s: %v", r.Value, err)
		}
		if string(r.Key) != "it-gw" || hb.Gateway != "it-gw" {
			t.Fatalf("heartbeat key %q gateway %q, want it-gw", r.Key, hb.Gateway)
		}
		seq, _ := strconv.ParseUint(header(r, "edgepm-seq"), 10, 64)
		hbs, seqs = append(hbs, hb), append(seqs, seq)
	}
	return hbs, seqs
}

// TestHeartbeatsArrive: with fleet.heartbeat_interval 1s, the gateway's
// state arrives on edgepm.gateways (created compacted), keyed by gateway
// id, once per interval, every record matching the closed schema, with the
// served model, the device count and the ingest rate filled in.
func TestHeartbeatsArrive(t *testing.T) {
	set, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, "fleet: {heartbeat_interval: 1s}")
	s.mosquittoPub("plant/s/l/pump-1/telemetry", 1, readingLines(1, 120, time.Now().Add(-time.Hour)))
	c := s.consume(60*time.Second, []string{wire.StreamGateways}, func(c *consumed) bool {
		hbs, _ := heartbeats(t, c)
		return len(hbs) >= 4 && hbs[len(hbs)-1].Devices == 1 && hbs[len(hbs)-1].Uplink.State == "online"
	})
	for _, r := range c.recs[wire.StreamGateways] {
		if err := set.Validate(wire.StreamGateways, r.Value); err != nil {
			t.Error(err)
		}
	}
	hbs, _ := heartbeats(t, c)
	rate := 0.0
	for i, hb := range hbs {
		rate = max(rate, hb.Ingest.ReadingsPerSec)
		if hb.V != wire.HeartbeatSchema || hb.IntervalSeconds != 1 || hb.Version == "" || hb.StartedAt.IsZero() ||
			hb.Model == nil || hb.Model.State != "builtin" || hb.Buffer.MaxBytes == 0 || hb.Conditions == nil {
			t.Errorf("heartbeat %d: %+v", i, hb)
		}
		if i > 0 && hb.TS.Sub(hbs[i-1].TS) < 900*time.Millisecond {
			t.Errorf("heartbeats %d and %d only %s apart, interval 1s", i-1, i, hb.TS.Sub(hbs[i-1].TS))
		}
		if i > 0 && !hb.StartedAt.Equal(hbs[0].StartedAt) {
			t.Errorf("started_at changed without a restart: %s then %s", hbs[0].StartedAt, hb.StartedAt)
		}
	}
	if policy := s.topicConfig("edgepm.gateways", "cleanup.policy"); policy != "compact" {
		t.Errorf("edgepm.gateways created with cleanup.policy %q, want compact", policy)
	}
	last := hbs[len(hbs)-1]
	if rate <= 0 || !last.Ingest.Connected || !last.Ready {
		t.Errorf("ingest rate %v never > 0 or last heartbeat not connected/ready: %+v", rate, last)
	}
	if v := metricLine(t, s.app, "edgepm_heartbeats_written_total"); v == "" || v == "0" {
		t.Errorf("heartbeat metric: %q", v)
	}
}

// topicConfig returns a topic's config value as the broker describes it.
func (s *stack) topicConfig(topic, key string) string {
	s.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.kafka.Seeds()...))
	if err != nil {
		s.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		s.t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}
