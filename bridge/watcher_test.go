package bridge

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/edgepm/edgepm/models"
)

// testPackage is the default model's manifest with a new version and onnx
// (any bytes: Activate is a recorder here, not the engine), signed by priv.
func testPackage(t testing.TB, version string, onnx []byte, priv ed25519.PrivateKey) *modelpkg.Package {
	t.Helper()
	mb, _ := models.Default()
	man, err := modelpkg.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	man.Name, man.Version = "pump-health", version
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	if priv != nil {
		if err := modelpkg.Sign(pkg, priv); err != nil {
			t.Fatal(err)
		}
	}
	return pkg
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	_, _ = r.Read(b)
	return b
}

// activations records what Activate was given.
type activations struct {
	mu   sync.Mutex
	list []string // name:version
	sha  map[string]string
}

func (a *activations) activate(pkg *modelpkg.Package) error {
	man, err := pkg.Decode()
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, man.ID())
	if a.sha == nil {
		a.sha = map[string]string{}
	}
	a.sha[man.ID()] = modelpkg.SHA256Hex(pkg.ONNX)
	return nil
}

func (a *activations) last() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.list) == 0 {
		return ""
	}
	return a.list[len(a.list)-1]
}

func runWatcher(t *testing.T, w *ModelWatcher) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("watcher Run: %v", err)
		}
	})
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

func modelState_(w *ModelWatcher, name string) ModelStatus {
	for _, m := range w.Models() {
		if m.Name == name {
			return m
		}
	}
	return ModelStatus{}
}

func TestModelDeliveryChunkedVerifiedStored(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		size = 4 << 20
	}
	srv := testenv.StartKafka(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "1048588"}))
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	ctx := context.Background()

	big := testPackage(t, "2.0.0", randomBytes(size, 1), priv)
	env, err := PublishModel(ctx, cfg, big, 0, nil, WithReleaseKey(priv))
	if err != nil {
		t.Fatal(err)
	}
	if env.Chunks < size/DefaultChunkSize {
		t.Fatalf("%d chunks", env.Chunks)
	}

	dir := t.TempDir()
	q := newTestQueue(t)
	var acts activations
	wcfg := ModelWatcherConfig{Kafka: cfg, Dir: dir, Policy: modelpkg.Policy{Keys: []ed25519.PublicKey{pub}}, Activate: acts.activate, Events: q}
	w, err := NewModelWatcher(wcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runWatcher(t, w)
	waitFor(t, 60*time.Second, "2.0.0 active", func() bool { return acts.last() == "pump-health:2.0.0" })
	if acts.sha["pump-health:2.0.0"] != modelpkg.SHA256Hex(big.ONNX) {
		t.Fatal("activated bytes differ")
	}

	// A corrupted chunk and a wrong signature are rejected with their
	// reason; 2.0.0 keeps serving.
	bad := testPackage(t, "3.0.0", randomBytes(3<<20, 2), priv)
	benv, chunks, _ := splitPackage(bad, 0, time.Now())
	chunks[2] = append([]byte(nil), chunks[2]...)
	chunks[2][100] ^= 0xff
	publishRaw(t, cfg, benv, chunks, priv)
	waitFor(t, 20*time.Second, "3.0.0 rejected", func() bool {
		m := modelState_(w, "pump-health")
		return m.State == "rejected" && m.Wanted == "3.0.0"
	})
	if m := modelState_(w, "pump-health"); m.Active != "2.0.0" || !contains(m.LastError, "chunk_sha256") {
		t.Fatalf("after corrupt chunk: %+v", m)
	}
	forged := testPackage(t, "4.0.0", randomBytes(1<<20, 3), otherPriv)
	if _, err := PublishModel(ctx, cfg, forged, 0, nil, WithReleaseKey(priv)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "4.0.0 rejected", func() bool {
		m := modelState_(w, "pump-health")
		return m.State == "rejected" && m.Wanted == "4.0.0"
	})
	if m := modelState_(w, "pump-health"); m.Active != "2.0.0" || !contains(m.LastError, "signature") {
		t.Fatalf("after forged signature: %+v", m)
	}
	good := testPackage(t, "5.0.0", randomBytes(1<<20, 4), priv)
	if _, err := PublishModel(ctx, cfg, good, 0, nil, WithReleaseKey(priv)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "5.0.0 active", func() bool { return acts.last() == "pump-health:5.0.0" })

	// Rollback to 2.0.0 (stored locally) and list.
	if _, err := RollbackModel(ctx, cfg, "pump-health", "2.0.0", nil, WithReleaseKey(priv)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "rolled back", func() bool { return acts.last() == "pump-health:2.0.0" })
	infos, err := ListModels(ctx, cfg, nil)
	if err != nil || len(infos) != 1 || infos[0].Current.Version != "2.0.0" || infos[0].Current.RolledBackFrom != "5.0.0" {
		t.Fatalf("list: %+v %v", infos, err)
	}
	stop()

	// Offline restart: the stored model is active at once.
	srv.Stop()
	var acts2 activations
	wcfg.Activate = acts2.activate
	w2, err := NewModelWatcher(wcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Restore activates synchronously from disk, with the broker gone: the
	// model serves when it returns (the time is logged, not asserted).
	start := time.Now()
	if err := w2.Restore(); err != nil {
		t.Fatal(err)
	}
	if acts2.last() != "pump-health:2.0.0" {
		t.Fatalf("restore with Kafka down activated %q", acts2.last())
	}
	t.Logf("offline restore took %s", time.Since(start))

	types := eventTypes(t, q)
	for _, want := range []string{EventModelReceived, EventModelVerified, EventModelActivated, EventModelRejected, EventModelRollback} {
		if types[want] == 0 {
			t.Errorf("no %s event; got %v", want, types)
		}
	}
}

func TestModelTombstoneAndTargeting(t *testing.T) {
	srv := testenv.StartKafka(t)
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	ctx := context.Background()
	pkg := testPackage(t, "1.0.0", randomBytes(10000, 5), nil)
	if _, err := PublishModel(ctx, cfg, pkg, 4096, nil); err != nil {
		t.Fatal(err)
	}
	var acts activations
	retired := make(chan string, 1)
	w, err := NewModelWatcher(ModelWatcherConfig{Kafka: cfg, Dir: t.TempDir(), Policy: modelpkg.Policy{AllowUnsigned: true},
		Activate: acts.activate, Retire: func(n string) { retired <- n }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w)
	waitFor(t, 20*time.Second, "1.0.0 active", func() bool { return acts.last() == "pump-health:1.0.0" })

	// A version for other gateways only is ignored.
	mb, _ := models.Default()
	man, _ := modelpkg.DecodeManifest(mb)
	man.Name, man.Version, man.Targeting.Gateways = "pump-health", "9.0.0", []string{"gw-other-*"}
	other, err := modelpkg.NewPackage(man, randomBytes(1000, 6))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PublishModel(ctx, cfg, other, 0, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "not targeted", func() bool { return modelState_(w, "pump-health").State == "not_targeted" })
	if acts.last() != "pump-health:1.0.0" {
		t.Fatalf("activated %s", acts.last())
	}

	cl, err := newModelsClient(cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := produceTombstone(ctx, cl, cfg.WithDefaults().Topic(DefaultModelsTopic), "pump-health"); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-retired:
		if n != "pump-health" {
			t.Fatalf("retired %q", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no retire")
	}
}

func eventTypes(t *testing.T, q *buffer.Queue) map[string]int {
	t.Helper()
	recs, err := q.Read(buffer.StreamEvents, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range recs {
		var ev wire.Event
		if json.Unmarshal(r.Value, &ev) == nil {
			out[ev.Type]++
		}
	}
	return out
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// publishRaw writes env's archive, chunks as given and pointer: a signed
// push release when priv is set, else a schema 1 pointer.
func publishRaw(t *testing.T, cfg Config, env *ModelEnvelope, chunks [][]byte, priv ed25519.PrivateKey) {
	t.Helper()
	cl, err := newModelsClient(cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, topic := context.Background(), cfg.WithDefaults().Topic(DefaultModelsTopic)
	if err := publishRecords(ctx, cl, topic, env, chunks); err != nil {
		t.Fatal(err)
	}
	if priv != nil {
		if env, err = signedPushPointer(ctx, cfg, env, publishOptions{key: priv}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := produceEnvelope(ctx, cl, topic, env.Name, kindPointer, env); err != nil {
		t.Fatal(err)
	}
}
