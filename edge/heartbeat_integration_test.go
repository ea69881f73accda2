package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/edge"
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
	lastRec := c.recs[wire.StreamGateways][len(c.recs[wire.StreamGateways])-1]
	t.Logf("a heartbeat value: %d bytes, key %d bytes, headers %d: %s", len(lastRec.Value), len(lastRec.Key), len(lastRec.Headers), lastRec.Value)
	rate := 0.0
	for i, hb := range hbs {
		rate = max(rate, hb.Ingest.ReadingsPerSec)
		if hb.V != wire.HeartbeatSchema || hb.IntervalSeconds != 1 || hb.Version == "" || hb.StartedAt.IsZero() ||
			hb.Model == nil || hb.Model.State != "builtin" || hb.Buffer.MaxBytes == 0 || hb.Conditions == nil {
			t.Errorf("heartbeat %d: %+v", i, hb)
		}
		if i > 0 && !hb.TS.After(hbs[i-1].TS) {
			t.Errorf("heartbeat %d (%s) not after heartbeat %d (%s)", i, hb.TS, i-1, hbs[i-1].TS)
		}
		if i > 0 && !hb.StartedAt.Equal(hbs[0].StartedAt) {
			t.Errorf("started_at changed without a restart: %s then %s", hbs[0].StartedAt, hb.StartedAt)
		}
	}
	if policy := s.topicConfig("edgepm.gateways", "cleanup.policy"); policy != "compact" {
		t.Errorf("edgepm.gateways created with cleanup.policy %q, want compact", policy)
	}
	last := hbs[len(hbs)-1]
	// One at start, then one per tick of a 1s ticker: never more than the
	// ticks in the time they span (+1 for a tick being built as we look).
	if span := last.TS.Sub(hbs[1].TS); len(hbs)-2 > int(span/time.Second)+1 {
		t.Errorf("%d heartbeats within %s at a 1s interval", len(hbs), last.TS.Sub(hbs[0].TS))
	}
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

// gatewaysStream is the gateways buffer stream's status.
func (s *stack) gatewaysStream() edge.BufferStreamStatus {
	for _, st := range s.app.Status().Buffer.Streams {
		if st.Stream == wire.StreamGateways {
			return st
		}
	}
	s.t.Fatal("no gateways stream in the buffer")
	return edge.BufferStreamStatus{}
}

// TestHeartbeatsOutageOrderAndCap: while Kafka is down heartbeats wait in
// the buffer, bounded by buffer.streams.gateways.max_bytes (the oldest are
// dropped and counted; one dropped may have reached Kafka unacknowledged
// as Kafka went away, so what arrived is not checked for the gap); when it
// is back they arrive in the order they were
// written, so the record the compacted topic keeps (the last one) is the
// newest state, and the last state written during the outage arrives
// after every earlier one.
func TestHeartbeatsOutageOrderAndCap(t *testing.T) {
	const capBytes = 4096
	s := startStack(t, fmt.Sprintf("fleet: {heartbeat_interval: 1s}\nbuffer: {streams: {gateways: {max_bytes: %d}}}", capBytes))
	s.consume(30*time.Second, []string{wire.StreamGateways}, func(c *consumed) bool { return len(c.recs[wire.StreamGateways]) > 0 })
	s.kafka.Stop()
	var held edge.BufferStreamStatus
	s.waitFor("heartbeats dropped at the gateways stream's cap", 60*time.Second, func() bool {
		held = s.gatewaysStream()
		if held.Bytes > capBytes {
			t.Fatalf("gateways stream holds %d bytes, cap %d", held.Bytes, capBytes)
		}
		return held.Dropped > 0 && held.Records >= 2
	})
	if held.MaxBytes == nil || *held.MaxBytes != capBytes {
		t.Fatalf("gateways stream cap %v, want %d", held.MaxBytes, capBytes)
	}
	s.kafka.Start()
	c := s.consume(90*time.Second, []string{wire.StreamGateways}, func(c *consumed) bool {
		hbs, _ := heartbeats(t, c)
		return len(hbs) > 0 && hbs[len(hbs)-1].Uplink.State == "online" && hbs[len(hbs)-1].TS.After(time.Now().Add(-5*time.Second))
	})
	hbs, seqs := heartbeats(t, c)
	arrived := map[uint64]bool{}
	for i := range seqs {
		arrived[seqs[i]] = true
		if i > 0 && (seqs[i] <= seqs[i-1] || !hbs[i].TS.After(hbs[i-1].TS)) {
			t.Errorf("heartbeat seq %d (%s) arrived after seq %d (%s)", seqs[i], hbs[i].TS, seqs[i-1], hbs[i-1].TS)
		}
	}
	for seq := held.FirstSeq; seq <= held.LastSeq; seq++ {
		if !arrived[seq] {
			t.Errorf("heartbeat seq %d, held in the buffer during the outage, never arrived (arrived: %v)", seq, seqs)
		}
	}
	all := c.recs[wire.StreamGateways]
	if last := header(all[len(all)-1], "edgepm-seq"); last != strconv.FormatUint(seqs[len(seqs)-1], 10) {
		t.Errorf("the topic's last heartbeat record is seq %s, not the newest %d: compaction would keep an old state", last, seqs[len(seqs)-1])
	}
}
