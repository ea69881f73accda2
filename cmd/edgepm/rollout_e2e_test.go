package main

// Staged rollout end to end: five real edgepm gateways on kfake, the
// rollout commands run in-process as an operator would run them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/fleet/rollout"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// fleetEnv is a Mosquitto, a kfake and five gateways gw-1..gw-5 that
// verify releases with the key of `edgepm keygen --out key`, all serving
// edgepm-default 1.0.0.
type fleetEnv struct {
	seeds []string
	dir   string
	key   string
	gws   map[string]*proc
}

func startFleet(t *testing.T) *fleetEnv {
	t.Helper()
	broker := testenv.StartMosquitto(t)
	e := &fleetEnv{seeds: testenv.StartKafka(t).Seeds(), dir: t.TempDir(), gws: map[string]*proc{}}
	e.key = filepath.Join(e.dir, "key")
	rc, pub, errs := runCmd("keygen", "--out", e.key)
	if rc != 0 {
		t.Fatal(errs)
	}
	t.Setenv("ONNXRUNTIME_LIB", testenv.ONNXRuntimeLib(t))
	e.push(t, "1.0.0", nil)
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("gw-%d", i)
		dir := filepath.Join(e.dir, id)
		httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg := fmt.Sprintf(`gateway_id: %s
data_dir: %s
shutdown_timeout: 10s
http: {listen: "%s"}
mqtt: {broker: %s, client_id: edgepm-%s}
kafka: {brokers: [%s], create_topics: true}
fleet: {heartbeat_interval: 1s}
inference:
  onnxruntime_lib: %s
  public_keys: [%s]
`, id, filepath.Join(dir, "data"), httpAddr, broker.URL(), id, strings.Join(e.seeds, ","), testenv.ONNXRuntimeLib(t), strings.TrimSpace(pub))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "edgepm.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		e.gws[id] = startProc(t, path, httpAddr)
	}
	e.waitServing(t, e.ids(), "1.0.0")
	// The canary is chosen among the gateways whose heartbeat serves the model.
	if !eventually(30*time.Second, func() bool {
		known, err := rollout.ServingGateways(context.Background(), kafkaOf(e.seeds), "edgepm-default")
		return err == nil && len(known) == 5
	}) {
		t.Fatal("the gateways topic does not show the five gateways serving edgepm-default")
	}
	return e
}

func (e *fleetEnv) ids() []string {
	var ids []string
	for id := range e.gws {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// push pushes the default model as version with extra flags and returns stdout.
func (e *fleetEnv) push(t *testing.T, version string, extra []string, mutate ...func(map[string]any)) string {
	t.Helper()
	args := writeVersion(t, e.dir, version, mutate...)
	args = append(args, append([]string{"--brokers", e.seeds[0], "--key", e.key}, extra...)...)
	rc, out, errs := runCmd(args...)
	if rc != 0 {
		t.Fatalf("push %s: rc %d %s%s", version, rc, out, errs)
	}
	return out
}

// served is the model version gateway id serves (its /api/status).
func (e *fleetEnv) served(id string) string {
	cl := &http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + e.gws[id].http + "/api/status")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var st struct {
		Model struct{ Name, Version string }
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil || st.Model.Name != "edgepm-default" {
		return "?"
	}
	return st.Model.Version
}

// eventTap collects the events topic's model events by gateway.
type eventTap struct {
	mu     sync.Mutex
	events []wire.Event
}

func tapEvents(t *testing.T, seeds []string) *eventTap {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("edgepm.events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tap := &eventTap{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				var ev wire.Event
				if json.Unmarshal(r.Value, &ev) == nil {
					tap.mu.Lock()
					tap.events = append(tap.events, ev)
					tap.mu.Unlock()
				}
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return tap
}

// has reports whether gateway gw sent an event of typ for version (with reason, when given).
func (tap *eventTap) has(gw, typ, version, reason string) bool {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	for _, ev := range tap.events {
		if ev.Gateway == gw && ev.Type == typ && ev.Detail["version"] == version && (reason == "" || ev.Detail["reason"] == reason) {
			return true
		}
	}
	return false
}

func (e *fleetEnv) waitServing(t *testing.T, ids []string, version string) {
	t.Helper()
	if !eventually(45*time.Second, func() bool {
		for _, id := range ids {
			if e.served(id) != version {
				return false
			}
		}
		return true
	}) {
		var got []string
		for _, id := range ids {
			got = append(got, id+"="+e.served(id))
		}
		t.Fatalf("want %v on %s, have %v; log of %s:\n%s", ids, version, got, ids[0], e.gws[ids[0]].logs())
	}
}

// fleetShows waits until `edgepm fleet status --json` shows every gateway
// of want on its version and the model's rollout with action and state.
func (e *fleetEnv) fleetShows(t *testing.T, want map[string]string, action, state string) {
	t.Helper()
	var last string
	if !eventually(30*time.Second, func() bool {
		var out, errb bytes.Buffer
		if run([]string{"fleet", "status", "--json", "--brokers", e.seeds[0], "--timeout", "20s"}, &out, &errb) != 0 {
			last = errb.String()
			return false
		}
		last = out.String()
		var doc struct {
			Gateways []struct {
				ID    string
				Model struct{ Version string }
			}
			Rollouts []struct{ Model, Action, State string }
		}
		if json.Unmarshal(out.Bytes(), &doc) != nil {
			return false
		}
		seen := 0
		for _, g := range doc.Gateways {
			if v, ok := want[g.ID]; ok && g.Model.Version == v {
				seen++
			}
		}
		for _, r := range doc.Rollouts {
			if r.Model == "edgepm-default" && r.Action == action && r.State == state {
				return seen == len(want)
			}
		}
		return false
	}) {
		t.Fatalf("fleet status does not show %v with rollout %s/%s:\n%s", want, action, state, last)
	}
}

func versions(ids []string, v string, into map[string]string) map[string]string {
	if into == nil {
		into = map[string]string{}
	}
	for _, id := range ids {
		into[id] = v
	}
	return into
}

// canaryOf parses the gateways a `push --canary` printed.
func canaryOf(t *testing.T, out string) []string {
	t.Helper()
	_, after, ok := strings.Cut(out, " on ")
	if !ok {
		t.Fatalf("no canary gateways in %q", out)
	}
	return strings.Split(strings.Fields(after)[0], ",")
}

func kafkaOf(seeds []string) bridge.Config { return bridge.Config{Brokers: seeds} }

func others(all, some []string) []string {
	var out []string
	for _, id := range all {
		if !slices.Contains(some, id) {
			out = append(out, id)
		}
	}
	return out
}

// A canary to 2 gateways switches only them; a promotion switches all; an
// unsigned pointer (a "promote" written without a signed release) is
// refused by every gateway, which keeps serving.
func TestRolloutCanaryPromoteE2E(t *testing.T) {
	e := startFleet(t)
	events := tapEvents(t, e.seeds)
	canary := canaryOf(t, e.push(t, "2.0.0", []string{"--canary", "2"}))
	if len(canary) != 2 {
		t.Fatalf("canary %v", canary)
	}
	e.waitServing(t, canary, "2.0.0")
	rest := others(e.ids(), canary)
	// The others read the same canary pointer; wait for their heartbeat
	// after it (their watcher applied it) and check they kept 1.0.0.
	e.waitServing(t, rest, "1.0.0")
	e.fleetShows(t, versions(rest, "1.0.0", versions(canary, "2.0.0", nil)), "canary", "done")
	rc, out, errs := runCmd("model", "promote", "edgepm-default", "--brokers", e.seeds[0], "--key", e.key)
	if rc != 0 || !strings.Contains(out, "promoted") {
		t.Fatalf("promote: rc %d %s%s", rc, out, errs)
	}
	e.waitServing(t, e.ids(), "2.0.0")
	e.fleetShows(t, versions(e.ids(), "2.0.0", nil), "promote", "done")

	// An unsigned pointer back to 1.0.0 (what an attacker with write access
	// to the topic could write): refused, 2.0.0 keeps serving.
	if rc, _, errs := runCmd("model", "rollback", "edgepm-default", "--to", "1.0.0", "--brokers", e.seeds[0]); rc != 0 {
		t.Fatalf("unsigned pointer: %s", errs)
	}
	if !eventually(30*time.Second, func() bool {
		for _, id := range e.ids() {
			if !events.has(id, wire.EventModelRejected, "1.0.0", modelpkg.ReasonRelease) || e.served(id) != "2.0.0" {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the unsigned pointer was not refused everywhere; log of gw-1:\n%s", e.gws["gw-1"].logs())
	}
	// A signed rollback is accepted.
	if rc, out, errs := runCmd("model", "rollback", "edgepm-default", "--to", "1.0.0", "--brokers", e.seeds[0], "--key", e.key); rc != 0 {
		t.Fatalf("signed rollback: rc %d %s%s", rc, out, errs)
	}
	e.waitServing(t, e.ids(), "1.0.0")
	e.fleetShows(t, versions(e.ids(), "1.0.0", nil), "rollback", "done")
}

// A canary whose package fails its samples on the gateways is aborted by
// the automatic rule (`edgepm fleet rollouts watch`) and the canaries
// serve the old version.
func TestRolloutRejectedCanaryAbortsE2E(t *testing.T) {
	e := startFleet(t)
	ctx, cancel := context.WithCancel(context.Background())
	var watchOut, watchErr strings.Builder
	watched := make(chan int, 1)
	go func() {
		watched <- cmdFleetRollouts(ctx, []string{"watch", "--brokers", e.seeds[0], "--key", e.key, "--tick", "300ms", "--group", "e2e"},
			&watchOut, &watchErr)
	}()
	defer func() {
		cancel()
		if rc := <-watched; rc != 0 {
			t.Errorf("watch rc %d", rc)
		}
	}()
	badSamples := func(m map[string]any) {
		samples := m["samples"].([]any)
		samples[0].(map[string]any)["output"] = []any{0.0}
	}
	canary := canaryOf(t, e.push(t, "3.0.0", []string{"--canary", "2", "--auto", "--window", "1m", "--force"}, badSamples))
	pub := e.key + ".pub"
	if !eventually(45*time.Second, func() bool {
		rc, out, _ := runFleetRollouts("list", "--brokers", e.seeds[0], "--public-key", pub)
		return rc == 0 && strings.Contains(out, "aborted") && strings.Contains(out, "rejected edgepm-default:3.0.0")
	}) {
		_, out, _ := runFleetRollouts("list", "--brokers", e.seeds[0], "--public-key", pub)
		t.Fatalf("the rule did not abort the rejected canary %v:\n%s\nwatch log:\n%s", canary, out, watchErr.String())
	}
	e.waitServing(t, e.ids(), "1.0.0")
	e.fleetShows(t, versions(e.ids(), "1.0.0", nil), "abort", "done")
}
