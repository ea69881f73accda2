package bridge

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/models"
)

// namedPackage is testPackage with a name and gateway targeting.
func namedPackage(t testing.TB, name, version string, onnx []byte, priv ed25519.PrivateKey, gateways ...string) *modelpkg.Package {
	t.Helper()
	mb, _ := models.Default()
	man, err := modelpkg.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	man.Name, man.Version, man.Targeting.Gateways = name, version, gateways
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

func publish(t *testing.T, cfg Config, pkg *modelpkg.Package, chunkSize int, opts ...PublishOption) *ModelEnvelope {
	t.Helper()
	env, err := PublishModel(context.Background(), cfg, pkg, chunkSize, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// produceRaw writes records to the models topic as they are.
func produceRaw(t *testing.T, cfg Config, recs ...*kgo.Record) {
	t.Helper()
	cl, err := newModelsClient(cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg = cfg.WithDefaults()
	topic := cfg.Topic(DefaultModelsTopic)
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	if err := createTopics(context.Background(), kadm.NewClient(cl), cfg, compact, topic); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Topic = topic
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// signedPointer is env as a schema 2 pointer value carrying rel (name,
// version and schema filled in) signed with priv.
func signedPointer(t *testing.T, env *ModelEnvelope, rel Release, priv ed25519.PrivateKey) []byte {
	t.Helper()
	rel.Schema, rel.Name, rel.Version = 1, env.Name, env.Version
	body, sig, err := SignRelease(&rel, priv)
	if err != nil {
		t.Fatal(err)
	}
	p := *env
	p.Schema, p.Release, p.ReleaseSignature = 2, body, sig
	return mustJSON(t, &p)
}

func raw(key string, value []byte) *kgo.Record { return &kgo.Record{Key: []byte(key), Value: value} }

// files lists every file under root, relative, with its size.
func files(t *testing.T, root string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walk
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stagedBytes sums what is staged under dir.
func stagedBytes(t *testing.T, dir string) (n int64) {
	for p, size := range files(t, dir) {
		if strings.HasPrefix(p, ".staging"+string(filepath.Separator)) {
			n += size
		}
	}
	return n
}

// recorder records Activate and Retire calls.
type recorder struct {
	activations
	mu      sync.Mutex
	retired []string
}

func (r *recorder) retire(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retired = append(r.retired, name)
}

func (r *recorder) retires() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.retired)
}

func (r *recorder) names() []string {
	r.activations.mu.Lock()
	defer r.activations.mu.Unlock()
	var out []string
	for _, id := range r.list {
		out = append(out, id[:strings.IndexByte(id, ':')])
	}
	return out
}

func newTestWatcher(t *testing.T, cfg ModelWatcherConfig) *ModelWatcher {
	t.Helper()
	w, err := NewModelWatcher(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Hostile keys on the models topic write nothing outside the model store;
// only the wanted version of the served name that targets this gateway is
// staged: not another name, not a version for other gateways, not a key
// with "..", whether the records are read at start-up or live.
func TestModelWatcherStagesOnlyWantedVersions(t *testing.T) {
	srv := testenv.StartKafka(t)
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	hostile := []*kgo.Record{
		raw("../../chunk/0", []byte("escape-1")),
		raw("../x/chunk/0", []byte("escape-2")),
		raw("pump-health/../chunk/0", []byte("escape-3")),
		raw("pump-health/../../manifest", []byte("{}")),
		raw(`pump-health/..\..\x/chunk/0`, []byte("escape-4")),
		raw(".staging/1/chunk/0", []byte("escape-5")),
		raw("pump-health/9.9.9/chunk/0", randomBytes(512<<10, 9)), // no pointer names 9.9.9
		raw("..", []byte("{}")),
	}
	produceRaw(t, cfg, hostile...)
	v1 := publish(t, cfg, namedPackage(t, "pump-health", "1.0.0", randomBytes(20000, 1), nil), 4096)
	publish(t, cfg, namedPackage(t, "other-model", "1.0.0", randomBytes(30000, 2), nil), 4096)
	publish(t, cfg, namedPackage(t, "pump-health", "1.5.0", randomBytes(30000, 3), nil, "gw-other-*"), 4096)

	root := t.TempDir()
	dir := filepath.Join(root, "data", "models")
	var rec recorder
	w := newTestWatcher(t, ModelWatcherConfig{Kafka: cfg, Dir: dir, Name: "pump-health", Policy: modelpkg.Policy{AllowUnsigned: true},
		Activate: rec.activate, Retire: rec.retire})
	runWatcher(t, w)
	waitFor(t, 20*time.Second, "not targeted", func() bool { return modelState_(w, "pump-health").State == ModelNotTargeted })
	if rec.last() != "" || testutil.ToFloat64(w.m.staged) != 0 {
		t.Fatalf("activated %q, staged %v chunks of a version not targeted here", rec.last(), testutil.ToFloat64(w.m.staged))
	}

	// Live: more hostile records and another name, then a version for us.
	produceRaw(t, cfg, hostile...)
	publish(t, cfg, namedPackage(t, "other-model", "2.0.0", randomBytes(30000, 4), nil), 4096)
	v2 := publish(t, cfg, namedPackage(t, "pump-health", "2.0.0", randomBytes(25000, 5), nil), 4096)
	// The state turns active after Activate returns: wait for both.
	waitFor(t, 20*time.Second, "2.0.0 active", func() bool {
		return rec.last() == "pump-health:2.0.0" && modelState_(w, "pump-health").State == ModelActive
	})

	if got := testutil.ToFloat64(w.m.staged); got != float64(v2.Chunks) {
		t.Fatalf("%v chunks staged, want the %d of pump-health:2.0.0 only", got, v2.Chunks)
	}
	if names := rec.names(); slices.Contains(names, "other-model") {
		t.Fatalf("a name this gateway does not serve was activated: %v", names)
	}
	if bad := testutil.ToFloat64(w.m.ignored.WithLabelValues("bad_key")); bad < float64(2*(len(hostile)-1)) {
		t.Fatalf("bad keys counted %v", bad)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 || ents[0].Name() != "data" {
		t.Fatalf("files outside the model store: %v", ents)
	}
	for p := range files(t, filepath.Join(root, "data")) {
		ok := p == filepath.Join("models", ".selected") || p == filepath.Join("models", "pump-health", "current") ||
			strings.HasPrefix(p, filepath.Join("models", "pump-health", "2.0.0")+string(filepath.Separator))
		if !ok {
			t.Errorf("unexpected file %s", p)
		}
	}
	if m := modelState_(w, "other-model"); m.State != ModelNotSelected || m.Selected || m.Wanted != "2.0.0" {
		t.Fatalf("other-model: %+v", m)
	}
	if m := modelState_(w, "pump-health"); m.State != ModelActive || !m.Selected || m.Active != "2.0.0" {
		t.Fatalf("pump-health: %+v", m)
	}
	_ = v1
}

// The bytes staged for a version never exceed what its envelope declares
// (and MaxStagingBytes): a model declared larger is rejected before any
// chunk is written; oversized, out-of-range and corrupt chunks are never
// written; the good chunks pushed again complete the version.
func TestModelWatcherBoundsStaging(t *testing.T) {
	srv := testenv.StartKafka(t)
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	pub, priv, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	var rec recorder
	w := newTestWatcher(t, ModelWatcherConfig{Kafka: cfg, Dir: dir, Name: "pump-health", MaxStagingBytes: 1 << 20,
		Policy: modelpkg.Policy{Keys: []ed25519.PublicKey{pub}}, Activate: rec.activate})
	runWatcher(t, w)

	// Declared larger than MaxStagingBytes: rejected with reason size.
	huge := publish(t, cfg, namedPackage(t, "pump-health", "1.0.0", randomBytes(2<<20, 1), priv), 0, WithReleaseKey(priv))
	waitFor(t, 20*time.Second, "1.0.0 rejected", func() bool {
		m := modelState_(w, "pump-health")
		return m.State == ModelRejected && m.Wanted == "1.0.0"
	})
	if m := modelState_(w, "pump-health"); !strings.HasPrefix(m.LastError, "size:") || testutil.ToFloat64(w.m.staged) != 0 || stagedBytes(t, dir) != 0 {
		t.Fatalf("oversized model: %+v, %v chunks staged", m, testutil.ToFloat64(w.m.staged))
	}
	_ = huge

	// A hostile chunk stream for a version of 64 KiB in 16 chunks.
	pkg := namedPackage(t, "pump-health", "2.0.0", randomBytes(64<<10, 2), priv)
	env, chunks, err := splitPackage(pkg, 4096, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	arch := mustJSON(t, env)
	recs = append(recs, raw(archiveKey(env.Name, env.Version), arch))
	for range 10 {
		recs = append(recs, raw(chunkKey(env.Name, env.Version, 0), randomBytes(512<<10, 3))) // too long
		recs = append(recs, raw(chunkKey(env.Name, env.Version, 16), chunks[1]))              // out of range
		recs = append(recs, raw(chunkKey(env.Name, env.Version, 1), randomBytes(4096, 4)))    // right size, wrong bytes
	}
	for i := 2; i < len(chunks); i++ {
		recs = append(recs, raw(chunkKey(env.Name, env.Version, i), chunks[i]))
	}
	recs = append(recs, raw(env.Name, signedPointer(t, env, Release{Action: ActionPush, Counter: 2}, priv))) // the pointer
	produceRaw(t, cfg, recs...)
	waitFor(t, 20*time.Second, "2.0.0 rejected", func() bool {
		m := modelState_(w, "pump-health")
		return m.State == ModelRejected && m.Wanted == "2.0.0"
	})
	waitFor(t, 20*time.Second, "the good chunks staged", func() bool {
		return testutil.ToFloat64(w.m.staged) == float64(len(chunks)-2) &&
			testutil.ToFloat64(w.m.ignored.WithLabelValues("chunk_sha256")) >= 20 &&
			testutil.ToFloat64(w.m.ignored.WithLabelValues("chunk_index")) >= 10
	})
	if m := modelState_(w, "pump-health"); m.State != ModelRejected || !strings.HasPrefix(m.LastError, "chunk_sha256:") {
		t.Fatalf("after bad chunks: %+v", m)
	}
	if n := stagedBytes(t, dir); n > env.ONNXSize || n != int64(len(chunks)-2)*4096 {
		t.Fatalf("%d bytes staged for a version of %d (chunks 2..15 = %d)", n, env.ONNXSize, (len(chunks)-2)*4096)
	}

	// The two missing chunks pushed again: the version completes.
	produceRaw(t, cfg, raw(chunkKey(env.Name, env.Version, 0), chunks[0]), raw(chunkKey(env.Name, env.Version, 1), chunks[1]))
	waitFor(t, 20*time.Second, "2.0.0 active", func() bool { return rec.last() == "pump-health:2.0.0" })
	if n := testutil.ToFloat64(w.m.staged); n != float64(len(chunks)) {
		t.Fatalf("%v chunks staged, want %d", n, len(chunks))
	}
	if n := stagedBytes(t, dir); n != 0 {
		t.Fatalf("%d bytes left staged after activation", n)
	}
}

// A restart with Kafka up stages nothing that is stored already, and
// removes leftover staging of versions nobody wants.
func TestModelWatcherRestartStagesNothingStored(t *testing.T) {
	srv := testenv.StartKafka(t)
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	dir := t.TempDir()
	var rec recorder
	wcfg := ModelWatcherConfig{Kafka: cfg, Dir: dir, Policy: modelpkg.Policy{AllowUnsigned: true}, Activate: rec.activate}
	w := newTestWatcher(t, wcfg)
	stop := runWatcher(t, w)
	publish(t, cfg, namedPackage(t, "pump-health", "0.9.0", randomBytes(20000, 1), nil), 4096)
	waitFor(t, 20*time.Second, "0.9.0 active", func() bool { return rec.last() == "pump-health:0.9.0" })
	publish(t, cfg, namedPackage(t, "pump-health", "1.0.0", randomBytes(20000, 2), nil), 4096)
	waitFor(t, 20*time.Second, "1.0.0 active", func() bool { return rec.last() == "pump-health:1.0.0" })
	stop()

	for _, p := range []string{".staging/pump-health/7.0.0/0", ".staging/gone/1/3", ".staging/stray"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("left over"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var rec2 recorder
	wcfg.Activate = rec2.activate
	w2 := newTestWatcher(t, wcfg)
	if err := w2.Restore(); err != nil || rec2.last() != "pump-health:1.0.0" {
		t.Fatalf("restore: %q %v", rec2.last(), err)
	}
	runWatcher(t, w2)
	waitFor(t, 20*time.Second, "leftover staging removed", func() bool { return len(files(t, filepath.Join(dir, ".staging"))) == 0 })
	v2 := publish(t, cfg, namedPackage(t, "pump-health", "2.0.0", randomBytes(20000, 3), nil), 4096)
	waitFor(t, 20*time.Second, "2.0.0 active", func() bool { return rec2.last() == "pump-health:2.0.0" })
	if n := testutil.ToFloat64(w2.m.staged); n != float64(v2.Chunks) {
		t.Fatalf("%v chunks staged after a restart, want the %d of the new version only", n, v2.Chunks)
	}
	if got := rec2.list; len(got) != 2 {
		t.Fatalf("activations after restart: %v", got)
	}
}

// One model name per gateway: with no name configured, the first name that
// targets the gateway is served and remembered; other names are tracked as
// not_selected and never activated; the remembered or configured name wins
// after a restart; a tombstone of the served name retires it, one of
// another name does not.
func TestModelWatcherServesOneName(t *testing.T) {
	srv := testenv.StartKafka(t)
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	publish(t, cfg, namedPackage(t, "alpha", "1.0.0", randomBytes(5000, 1), nil), 4096)
	publish(t, cfg, namedPackage(t, "bravo", "1.0.0", randomBytes(5000, 2), nil), 4096)

	run := func(dir, name string) (*ModelWatcher, *recorder, func()) {
		rec := &recorder{}
		w := newTestWatcher(t, ModelWatcherConfig{Kafka: cfg, Dir: dir, Name: name, Policy: modelpkg.Policy{AllowUnsigned: true},
			Activate: rec.activate, Retire: rec.retire})
		if err := w.Restore(); err != nil {
			t.Fatal(err)
		}
		return w, rec, runWatcher(t, w)
	}
	dir := t.TempDir()
	w, rec, stop := run(dir, "")
	waitFor(t, 20*time.Second, "alpha active", func() bool { return rec.last() == "alpha:1.0.0" })
	waitFor(t, 20*time.Second, "bravo not selected", func() bool { return modelState_(w, "bravo").State == ModelNotSelected })
	publish(t, cfg, namedPackage(t, "bravo", "1.1.0", randomBytes(5000, 3), nil), 4096)
	publish(t, cfg, namedPackage(t, "alpha", "1.1.0", randomBytes(5000, 4), nil), 4096)
	waitFor(t, 20*time.Second, "alpha 1.1.0 active", func() bool { return rec.last() == "alpha:1.1.0" })
	if names := rec.names(); slices.Contains(names, "bravo") {
		t.Fatalf("activated %v", names)
	}
	stop()
	if b, _ := os.ReadFile(filepath.Join(dir, ".selected")); string(b) != "alpha\n" {
		t.Fatalf(".selected = %q", b)
	}

	// Remembered: a new gateway dir that remembers bravo serves bravo,
	// although alpha comes first on the topic.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, ".selected"), []byte("bravo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rec2, stop2 := run(dir2, "")
	waitFor(t, 20*time.Second, "bravo active", func() bool { return rec2.last() == "bravo:1.1.0" })
	stop2()

	// Configured: Name wins over the remembered alpha, and is remembered.
	w3, rec3, stop3 := run(dir, "bravo")
	waitFor(t, 20*time.Second, "bravo active", func() bool { return rec3.last() == "bravo:1.1.0" })
	if names := rec3.names(); slices.Contains(names, "alpha") {
		t.Fatalf("activated %v (Restore must restore the configured name only)", names)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".selected")); string(b) != "bravo\n" {
		t.Fatalf(".selected = %q", b)
	}

	// Tombstones: alpha (not served) changes nothing; bravo retires.
	cl, err := newModelsClient(cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topic := cfg.WithDefaults().Topic(DefaultModelsTopic)
	if err := produceTombstone(context.Background(), cl, topic, "alpha"); err != nil {
		t.Fatal(err)
	}
	if err := produceTombstone(context.Background(), cl, topic, "bravo"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "bravo retired", func() bool { return modelState_(w3, "bravo").State == ModelRetired })
	if r := rec3.retires(); !slices.Equal(r, []string{"bravo"}) {
		t.Fatalf("retired %v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "bravo", "current")); !os.IsNotExist(err) {
		t.Fatalf("bravo/current after retire: %v", err)
	}
	stop3()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
