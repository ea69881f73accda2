package bridge

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// releaseWatcher is a watcher of pump-health for gateway id in dir that
// trusts pub, with its activations and its shadow hooks recorded in h and
// its events in q (nil: none).
func releaseWatcher(t *testing.T, cfg Config, id, dir string, pub ed25519.PublicKey, h *hooks, q Appender) *ModelWatcher {
	t.Helper()
	cfg.GatewayID = id
	return newTestWatcher(t, ModelWatcherConfig{Kafka: cfg, Dir: dir, Name: "pump-health", Events: q,
		Policy: modelpkg.Policy{Keys: []ed25519.PublicKey{pub}}, Activate: h.activate,
		Shadow: h.shadow, ClearShadow: h.clearShadow})
}

// hooks records, in order, what the watcher hands over: "serve V",
// "shadow V", "clear".
type hooks struct {
	mu    sync.Mutex
	calls []string
}

func (h *hooks) add(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, s)
}

func (h *hooks) activate(pkg *modelpkg.Package) error {
	man, err := pkg.Decode()
	if err == nil {
		h.add("serve " + man.Version)
	}
	return err
}

func (h *hooks) shadow(pkg *modelpkg.Package) error {
	man, err := pkg.Decode()
	if err == nil {
		h.add("shadow " + man.Version)
	}
	return err
}

func (h *hooks) clearShadow() { h.add("clear") }

func (h *hooks) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

func (h *hooks) last() string {
	l := h.list()
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

func (h *hooks) count(s string) int {
	n := 0
	for _, c := range h.list() {
		if c == s {
			n++
		}
	}
	return n
}

// waitRejected waits until w shows version wanted and rejected with reason
// release and an error containing want; v stays active.
func waitRejected(t *testing.T, w *ModelWatcher, active, want string) {
	t.Helper()
	waitFor(t, 20*time.Second, "pointer refused: "+want, func() bool {
		m := modelState_(w, "pump-health")
		return m.State == ModelRejected && strings.Contains(m.LastError, want)
	})
	if m := modelState_(w, "pump-health"); m.Active != active || !strings.HasPrefix(m.LastError, modelpkg.ReasonRelease+":") {
		t.Fatalf("after %q: %+v", want, m)
	}
}

// TestReleaseRefusals: a gateway refuses, with reason release, a replayed
// older signed pointer (also after a restart), an unsigned pointer and an
// unsigned promote, a release signed by an unknown key, and another
// release at the counter it accepted; the previous model keeps serving. An
// explicit signed rollback is accepted.
func TestReleaseRefusals(t *testing.T) {
	srv := testenv.StartKafka(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-1"}
	dir := t.TempDir()
	var h hooks
	w := releaseWatcher(t, cfg, "gw-1", dir, pub, &h, nil)
	stop := runWatcher(t, w)

	old := publish(t, cfg, testPackage(t, "1.0.0", randomBytes(5000, 1), priv), 4096, WithReleaseKey(priv))
	v2 := publish(t, cfg, testPackage(t, "2.0.0", randomBytes(5000, 2), priv), 4096, WithReleaseKey(priv))
	waitFor(t, 20*time.Second, "2.0.0 served", func() bool { return h.last() == "serve 2.0.0" })
	if m := modelState_(w, "pump-health"); m.ReleaseCounter != 2 || m.ReleaseAction != ActionPush {
		t.Fatalf("status after two pushes: %+v", m)
	}

	produceRaw(t, cfg, raw("pump-health", mustJSON(t, old))) // the counter-1 pointer again
	waitRejected(t, w, "2.0.0", "was accepted before")

	unsigned := *v2
	unsigned.Schema, unsigned.Release, unsigned.ReleaseSignature = 1, nil, nil
	produceRaw(t, cfg, raw("pump-health", mustJSON(t, &unsigned)))
	waitRejected(t, w, "2.0.0", "no signed release")

	produceRaw(t, cfg, raw("pump-health", signedPointer(t, old, Release{Action: ActionRollback, Counter: 10}, otherPriv)))
	waitRejected(t, w, "2.0.0", "does not verify")

	promote := *v2 // a promote whose release is not signed
	body, _, err := SignRelease(&Release{Schema: 1, Name: "pump-health", Counter: 9, Action: ActionPromote, Version: "2.0.0"}, priv)
	if err != nil {
		t.Fatal(err)
	}
	promote.Release, promote.ReleaseSignature = body, nil
	produceRaw(t, cfg, raw("pump-health", mustJSON(t, &promote)))
	waitRejected(t, w, "2.0.0", "no signed release")

	produceRaw(t, cfg, raw("pump-health", signedPointer(t, old, Release{Action: ActionRollback, Counter: 2}, priv)))
	waitRejected(t, w, "2.0.0", "other contents")
	if h.last() != "serve 2.0.0" {
		t.Fatalf("a refused pointer changed the model served: %v", h.list())
	}
	stop()

	// Restarted, the gateway still refuses the replay: the highest counter
	// accepted is on disk.
	produceRaw(t, cfg, raw("pump-health", mustJSON(t, old)))
	var h2 hooks
	w2 := releaseWatcher(t, cfg, "gw-1", dir, pub, &h2, nil)
	if err := w2.Restore(); err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w2)
	waitRejected(t, w2, "2.0.0", "was accepted before")

	// An explicit rollback is a new release with a higher counter.
	env, err := RollbackModel(context.Background(), cfg, "pump-health", "1.0.0", nil, WithReleaseKey(priv))
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := DecodeRelease(env.Release)
	waitFor(t, 20*time.Second, "rolled back to 1.0.0", func() bool {
		m := modelState_(w2, "pump-health")
		return m.Active == "1.0.0" && m.State == ModelActive && m.ReleaseCounter == rel.Counter && m.ReleaseAction == ActionRollback
	})
	if h2.last() != "serve 1.0.0" {
		t.Fatalf("hook calls after the rollback: %v", h2.list())
	}
	if n := testutil.ToFloat64(w2.m.deploys.WithLabelValues(modelpkg.ReasonRelease)); n != 1 {
		t.Fatalf("%v release rejections counted after the restart, want 1", n)
	}
}

// TestReleaseCanary: a gateway in the canary serves the new version; one
// outside serves the stable version, from its disk when it has it (no
// chunk read) and else from the topic's archive and chunks.
func TestReleaseCanary(t *testing.T) {
	srv := testenv.StartKafka(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	cfg := Config{Brokers: srv.Seeds()}
	var h1, h2, h3 hooks
	q2 := newTestQueue(t)
	w1 := releaseWatcher(t, cfg, "gw-1", t.TempDir(), pub, &h1, nil)
	w2 := releaseWatcher(t, cfg, "gw-2", t.TempDir(), pub, &h2, q2)
	runWatcher(t, w1)
	runWatcher(t, w2)

	publish(t, cfg, testPackage(t, "1.0.0", randomBytes(5000, 1), priv), 4096, WithReleaseKey(priv))
	waitFor(t, 20*time.Second, "1.0.0 served by both", func() bool { return h1.last() == "serve 1.0.0" && h2.last() == "serve 1.0.0" })
	publish(t, cfg, testPackage(t, "2.0.0", randomBytes(5000, 2), priv), 4096, WithReleaseKey(priv))
	waitFor(t, 20*time.Second, "2.0.0 served by both", func() bool { return h1.last() == "serve 2.0.0" && h2.last() == "serve 2.0.0" })
	verified := eventTypes(t, q2)[EventModelVerified]

	canary := &Release{Action: ActionCanary, Stable: "1.0.0", Canary: &Selector{Globs: []string{"gw-1*"}}, Rollout: "r-3"}
	publish(t, cfg, testPackage(t, "3.0.0", randomBytes(5000, 3), priv), 4096, WithReleaseKey(priv), WithRelease(canary))
	waitFor(t, 20*time.Second, "canary served", func() bool {
		return h1.last() == "serve 3.0.0" && modelState_(w1, "pump-health").Active == "3.0.0" &&
			h2.last() == "serve 1.0.0" && modelState_(w2, "pump-health").Active == "1.0.0"
	})
	if n := eventTypes(t, q2)[EventModelVerified]; n != verified {
		t.Fatalf("the stable version stored on gw-2 was received again (%d verified, %d before)", n, verified)
	}
	m := modelState_(w2, "pump-health")
	if m.Active != "1.0.0" || m.Wanted != "1.0.0" || m.ReleaseAction != ActionCanary || m.Rollout != "r-3" || m.ReleaseCounter != 3 {
		t.Fatalf("gw-2 outside the canary: %+v", m)
	}

	// A new gateway outside the canary takes the stable version from the topic.
	w3 := releaseWatcher(t, cfg, "gw-3", t.TempDir(), pub, &h3, nil)
	runWatcher(t, w3)
	waitFor(t, 20*time.Second, "gw-3 serves the stable version", func() bool { return h3.last() == "serve 1.0.0" })
	if got := h3.list(); len(got) != 1 || testutil.ToFloat64(w3.m.staged) == 0 {
		t.Fatalf("gw-3: %v, %v chunks staged", got, testutil.ToFloat64(w3.m.staged))
	}
}

// TestReleaseShadow: the shadow a release names is staged after the
// served version, handed to the Shadow hook, shown in the status, and
// cleared when a later release drops it.
func TestReleaseShadow(t *testing.T) {
	srv := testenv.StartKafka(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	cfg := Config{Brokers: srv.Seeds()}
	ctx := context.Background()
	var h1 hooks
	w1 := releaseWatcher(t, cfg, "gw-1", t.TempDir(), pub, &h1, nil)
	runWatcher(t, w1)

	publish(t, cfg, testPackage(t, "1.0.0", randomBytes(5000, 1), priv), 4096, WithReleaseKey(priv))
	waitFor(t, 20*time.Second, "1.0.0 served", func() bool { return h1.last() == "serve 1.0.0" })
	// 2.0.0 goes to a canary of no one here: its chunks stream past gw-1.
	elsewhere := &Release{Action: ActionCanary, Stable: "1.0.0", Canary: &Selector{Gateways: []string{"gw-9"}}}
	publish(t, cfg, testPackage(t, "2.0.0", randomBytes(9000, 2), priv), 4096, WithReleaseKey(priv), WithRelease(elsewhere))

	if _, err := PublishRelease(ctx, cfg, &Release{Name: "pump-health", Action: ActionShadow, Version: "1.0.0", Shadow: "2.0.0"}, priv, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "2.0.0 in shadow", func() bool {
		return h1.last() == "shadow 2.0.0" && modelState_(w1, "pump-health").ShadowState == ShadowActive
	})
	if m := modelState_(w1, "pump-health"); m.Active != "1.0.0" || m.Shadow != "2.0.0" || m.ShadowState != ShadowActive || m.ReleaseAction != ActionShadow {
		t.Fatalf("status with a shadow: %+v", m)
	}

	// A gateway started now receives both: the served version first.
	var h2 hooks
	w2 := releaseWatcher(t, cfg, "gw-2", t.TempDir(), pub, &h2, nil)
	runWatcher(t, w2)
	waitFor(t, 20*time.Second, "gw-2 serves and shadows", func() bool { return h2.last() == "shadow 2.0.0" })
	if got := h2.list(); len(got) != 2 || got[0] != "serve 1.0.0" {
		t.Fatalf("gw-2 hook calls %v, want serve 1.0.0 then shadow 2.0.0", got)
	}

	if _, err := PublishRelease(ctx, cfg, &Release{Name: "pump-health", Action: ActionPromote, Version: "1.0.0"}, priv, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "shadow cleared", func() bool {
		return h1.last() == "clear" && h2.last() == "clear" && modelState_(w1, "pump-health").Shadow == ""
	})
	if m := modelState_(w1, "pump-health"); m.Shadow != "" || m.ShadowState != "" || m.Active != "1.0.0" {
		t.Fatalf("status after the shadow was dropped: %+v", m)
	}
	if n := h1.count("serve 1.0.0"); n != 1 {
		t.Fatalf("1.0.0 activated %d times on gw-1", n)
	}
}

// TestReleaseShadowRejected: a shadow that fails the signature policy is
// rejected (model.rejected with shadow: true, a schema-valid event) without
// touching the served model; a canary's stable version that is neither
// stored nor on the topic refuses the pointer.
func TestReleaseShadowRejected(t *testing.T) {
	srv := testenv.StartKafka(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	cfg := Config{Brokers: srv.Seeds()}
	ctx := context.Background()
	var h hooks
	q := newTestQueue(t)
	w := releaseWatcher(t, cfg, "gw-1", t.TempDir(), pub, &h, q)
	runWatcher(t, w)

	publish(t, cfg, testPackage(t, "1.0.0", randomBytes(5000, 1), priv), 4096, WithReleaseKey(priv))
	waitFor(t, 20*time.Second, "1.0.0 served", func() bool { return modelState_(w, "pump-health").Active == "1.0.0" })
	elsewhere := &Release{Action: ActionCanary, Stable: "1.0.0", Canary: &Selector{Gateways: []string{"gw-9"}}}
	publish(t, cfg, testPackage(t, "2.0.0", randomBytes(5000, 2), otherPriv), 4096, WithReleaseKey(priv), WithRelease(elsewhere))
	if _, err := PublishRelease(ctx, cfg, &Release{Name: "pump-health", Action: ActionShadow, Version: "1.0.0", Shadow: "2.0.0"}, priv, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "shadow rejected", func() bool { return modelState_(w, "pump-health").ShadowState == ShadowRejected })
	if m := modelState_(w, "pump-health"); m.Active != "1.0.0" || m.State != ModelActive || !strings.HasPrefix(m.ShadowError, modelpkg.ReasonSignature+":") {
		t.Fatalf("after a bad shadow: %+v", m)
	}
	if got := h.list(); len(got) != 1 {
		t.Fatalf("hook calls %v, want only serve 1.0.0", got)
	}
	set, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	// The event is appended to the buffer just after the state changes.
	shadowRejects := 0
	countRejects := func() bool {
		recs, err := q.Read(buffer.StreamEvents, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		shadowRejects = 0
		for _, r := range recs {
			var ev wire.Event
			if json.Unmarshal(r.Value, &ev) != nil || ev.Type != EventModelRejected {
				continue
			}
			if err := set.ValidateDoc("events/model.rejected.schema.json", r.Value); err != nil {
				t.Errorf("%s: %v", r.Value, err)
			}
			if ev.Detail["shadow"] == true && ev.Detail["version"] == "2.0.0" {
				shadowRejects++
			}
		}
		return shadowRejects > 0
	}
	waitFor(t, 10*time.Second, "the shadow's model.rejected event", countRejects)
	time.Sleep(200 * time.Millisecond) // a second one would come as soon
	if countRejects(); shadowRejects != 1 {
		t.Fatalf("%d model.rejected events for the shadow, want 1", shadowRejects)
	}

	// A canary whose stable version is nowhere: refused, 1.0.0 keeps serving.
	missing := &Release{Action: ActionCanary, Stable: "0.5.0", Canary: &Selector{Gateways: []string{"gw-9"}}}
	env := publish(t, cfg, testPackage(t, "3.0.0", randomBytes(5000, 3), priv), 4096, WithReleaseKey(priv))
	waitFor(t, 20*time.Second, "3.0.0 served", func() bool { return modelState_(w, "pump-health").Active == "3.0.0" })
	produceRaw(t, cfg, raw("pump-health", signedPointer(t, env, Release{Action: ActionCanary, Counter: 99,
		Stable: missing.Stable, Canary: missing.Canary}, priv)))
	waitFor(t, 20*time.Second, "the canary refused", func() bool {
		m := modelState_(w, "pump-health")
		return m.State == ModelRejected && strings.Contains(m.LastError, "0.5.0 is neither stored")
	})
	if m := modelState_(w, "pump-health"); m.Active != "3.0.0" {
		t.Fatalf("after a canary without its stable version: %+v", m)
	}
}
