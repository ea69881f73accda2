package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// gatewayRecords reads edgepm.gateways from the start until cond holds for
// the records of key read so far (in offset order; a nil value is a
// tombstone), or d passes.
func gatewayRecords(t *testing.T, seeds []string, key string, d time.Duration, cond func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("edgepm.gateways"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var recs []*kgo.Record
	for !cond(recs) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out after %s reading edgepm.gateways: %d records of %s", d, len(recs), key)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == key {
				recs = append(recs, r)
			}
		})
	}
	return recs
}

func decodeHeartbeat(t *testing.T, r *kgo.Record) wire.Heartbeat {
	t.Helper()
	var hb wire.Heartbeat
	if err := json.Unmarshal(r.Value, &hb); err != nil {
		t.Fatalf("heartbeat %q: %v", r.Value, err)
	}
	return hb
}

// A gateway killed with SIGKILL and restarted writes heartbeats with a new
// started_at (what the fleet view's staleness and restart detection read).
// Once it is stopped, `edgepm decommission` refuses an id with no
// heartbeat, writes the tombstone for a known one, then refuses it as
// gone unless --force.
func TestHeartbeatRestartAndDecommission(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	cfgPath, httpAddr := writeConfig(t, t.TempDir(), broker.URL(), kafka.Seeds(), "fleet: {heartbeat_interval: 1s}")
	p := startProc(t, cfgPath, httpAddr)
	recs := gatewayRecords(t, kafka.Seeds(), "e2e-gw", 60*time.Second, func(r []*kgo.Record) bool { return len(r) > 0 })
	first := decodeHeartbeat(t, recs[0])
	p.kill9()

	p = startProc(t, cfgPath, httpAddr)
	var restarted wire.Heartbeat
	gatewayRecords(t, kafka.Seeds(), "e2e-gw", 60*time.Second, func(rs []*kgo.Record) bool {
		for _, r := range rs {
			if hb := decodeHeartbeat(t, r); !hb.StartedAt.Equal(first.StartedAt) {
				restarted = hb
				return true
			}
		}
		return false
	})
	if !restarted.StartedAt.After(first.StartedAt) || restarted.UptimeSeconds >= time.Since(first.StartedAt).Seconds() {
		t.Errorf("after the restart started_at %s (uptime %.1fs), before %s", restarted.StartedAt, restarted.UptimeSeconds, first.StartedAt)
	}
	if err := p.term(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The clean stop ends with the restarted process's stopped heartbeat
	// (not ready); kill -9 wrote none.
	recs = gatewayRecords(t, kafka.Seeds(), "e2e-gw", 30*time.Second, func(rs []*kgo.Record) bool {
		return len(rs) > 0 && decodeHeartbeat(t, rs[len(rs)-1]).Stopped
	})
	for i, r := range recs {
		hb := decodeHeartbeat(t, r)
		if last := i == len(recs)-1; hb.Stopped != last || (last && (hb.Ready || !hb.StartedAt.Equal(restarted.StartedAt))) {
			t.Errorf("heartbeat %d of %d: stopped %v, ready %v, started_at %s; want only the last stopped, of the restart, not ready",
				i+1, len(recs), hb.Stopped, hb.Ready, hb.StartedAt)
		}
	}

	brokers := "--brokers=" + strings.Join(kafka.Seeds(), ",")
	decommission := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"decommission", brokers, "--timeout=30s"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, errOut := decommission("--gateway", "no-such-gw"); code != 1 || !strings.Contains(errOut, "no heartbeat") ||
		!strings.Contains(errOut, "--force") {
		t.Errorf("decommission of an unknown gateway: exit %d, stderr %q; want 1, no heartbeat, --force", code, errOut)
	}
	if code, out, errOut := decommission("--gateway", "e2e-gw"); code != 0 || !strings.Contains(out, "e2e-gw decommissioned") {
		t.Fatalf("decommission: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	gatewayRecords(t, kafka.Seeds(), "e2e-gw", 30*time.Second, func(rs []*kgo.Record) bool {
		return len(rs) > 0 && rs[len(rs)-1].Value == nil
	})
	if code, _, errOut := decommission("--gateway", "e2e-gw"); code != 1 || !strings.Contains(errOut, "no heartbeat") {
		t.Errorf("decommission of a decommissioned gateway: exit %d, stderr %q; want 1", code, errOut)
	}
	if code, out, errOut := decommission("--gateway", "e2e-gw", "--force"); code != 0 || !strings.Contains(out, "had no heartbeat") {
		t.Errorf("decommission --force: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
