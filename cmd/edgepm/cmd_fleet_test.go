package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/fleet"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// fleetHeartbeat is a heartbeat as a gateway writes it to edgepm.gateways,
// every 10 s: stale 30 s after at, so that a slow test run (the race
// detector, a loaded machine) does not see gw-1 go stale, while gw-3, a
// minute old, is.
func fleetHeartbeat(t *testing.T, id, version string, at time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(wire.Heartbeat{V: wire.HeartbeatSchema, Gateway: id, TS: at, IntervalSeconds: 10,
		Version: "v9.9.9", Ready: true, Model: &wire.HeartbeatModel{Name: "pump", Version: version, State: "active"},
		Uplink: wire.HeartbeatUplink{State: "online", BacklogRecords: 7}, AlertsActive: 2,
		Conditions: []string{"buffer above 80%"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fleetRecordsAt writes a small fleet to kfake: gw-1 and gw-2 on pump:2
// now, gw-3 on pump:1 a minute ago (stale), gw-4 decommissioned, and a
// push pointer of pump:2.
func fleetRecordsAt(t *testing.T, seeds []string, now time.Time) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produceAt := func(topic, key string, value []byte, at time.Time) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Timestamp: at}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	for _, g := range []struct {
		id, version string
		at          time.Time
	}{{"gw-1", "2", now}, {"gw-2", "2", now}, {"gw-3", "1", now.Add(-time.Minute)}, {"gw-4", "1", now}} {
		produceAt("edgepm.gateways", g.id, fleetHeartbeat(t, g.id, g.version, g.at), g.at)
	}
	produceAt("edgepm.gateways", "gw-4", nil, now)
	env, _ := json.Marshal(bridge.ModelEnvelope{Schema: 1, Name: "pump", Version: "2", Published: now, ChunkSHA256: []string{}})
	produceAt("edgepm.models", "pump", env, now)
}

// edgepm fleet status prints one line per gateway (stale marked), the
// gateways per model version and the rollout, from the topics' records.
func TestFleetStatusFromRecords(t *testing.T) {
	k := testenv.StartKafka(t, kfake.SeedTopics(3, "edgepm.gateways"))
	fleetRecordsAt(t, k.Seeds(), time.Now())
	var out, errb bytes.Buffer
	if rc := run([]string{"fleet", "status", "--brokers", k.Seeds()[0], "--timeout", "30s"}, &out, &errb); rc != 0 {
		t.Fatalf("fleet status: exit %d: %s", rc, errb.String())
	}
	text := out.String()
	t.Logf("edgepm fleet status:\n%s", text)
	for _, re := range []string{
		`(?m)^gw-1 +[0-9.]+m?s ago +- +v9\.9\.9 +pump:2 +active +- +7 +2 +1$`,
		`(?m)^gw-2 +.* ago +- +v9\.9\.9 +pump:2 +active`,
		`(?m)^gw-3 +1m[0-9.]+s ago +STALE +v9\.9\.9 +pump:1 +active`,
		`(?m)^\(3 gateways, 1 stale, 0 stopped, 6 active alerts\)$`,
		`(?m)^pump +2 +2 +0 +-$`, `(?m)^pump +1 +1 +1 +-$`,
		`(?m)^pump +push +2 +- +- +2/3 +0 +in_progress$`, // gw-3 (stale) still on 1
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s", re)
		}
	}
	if strings.Contains(text, "gw-4") {
		t.Error("the decommissioned gw-4 is listed")
	}
	out.Reset()
	if rc := run([]string{"fleet", "status", "--brokers", k.Seeds()[0], "--json"}, &out, &errb); rc != 0 {
		t.Fatalf("fleet status --json: exit %d: %s", rc, errb.String())
	}
	var f fleet.Fleet
	if err := json.Unmarshal(out.Bytes(), &f); err != nil || f.V != fleet.APIVersion || len(f.Gateways) != 3 || !f.CaughtUp {
		t.Errorf("--json: %v, %+v", err, f)
	}
}

// The fleet commands' help exits 0; a non-loopback console without TLS
// and a token refuses to start with a message that says what to add.
func TestFleetUsage(t *testing.T) {
	for _, args := range [][]string{{"fleet", "--help"}, {"fleet", "status", "--help"}, {"fleet", "serve", "-h"}} {
		var out, errb bytes.Buffer
		if rc := run(args, &out, &errb); rc != 0 || out.Len() == 0 {
			t.Errorf("edgepm %s: exit %d, stdout %q", strings.Join(args, " "), rc, out.String())
		}
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"fleet"}, &out, &errb); rc != 2 {
		t.Errorf("edgepm fleet: exit %d, want 2", rc)
	}
	rc := run([]string{"fleet", "serve", "--brokers", "127.0.0.1:1", "--listen", "0.0.0.0:0"}, &out, &errb)
	if rc != 1 || !strings.Contains(errb.String(), "--tls-cert, --tls-key and --token-file") {
		t.Errorf("fleet serve beyond loopback: exit %d, stderr %q", rc, errb.String())
	}
}

// edgepm fleet serve, as a process: its /api/fleet shows the fleet once
// caught up, and SIGTERM stops it with exit 0.
func TestFleetServeProcess(t *testing.T) {
	k := testenv.StartKafka(t)
	fleetRecordsAt(t, k.Seeds(), time.Now())
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := launch(t, exec.Command(edgepmBin, "fleet", "serve", "--brokers", k.Seeds()[0], "--listen", addr), addr)
	var f fleet.Fleet
	if !eventually(30*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/api/fleet")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&f) == nil && f.CaughtUp && len(f.Gateways) == 3
	}) {
		t.Fatalf("the console never showed 3 gateways (last %+v); log:\n%s", f, p.logs())
	}
	if err := p.term(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v; log:\n%s", err, p.logs())
	}
	if ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ws.ExitStatus() != 0 {
		t.Errorf("exit status %d; log:\n%s", ws.ExitStatus(), p.logs())
	}
}
