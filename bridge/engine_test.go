package bridge

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/models"
)

// The default model, signed and pushed, is validated and activated by a real
// inference.Engine; push-to-activation latency is logged (p50/p99 over 20
// pushes), and a restarted watcher with Kafka gone serves it from disk.
func TestModelPushToEngineActivation(t *testing.T) {
	if err := inference.InitRuntime(testenv.ONNXRuntimeLib(t)); err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartKafka(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	eng, err := inference.NewEngine(inference.EngineConfig{Gateway: "gw-test"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	dir := t.TempDir()
	w, err := NewModelWatcher(ModelWatcherConfig{Kafka: cfg, Dir: dir, Policy: modelpkg.Policy{Keys: []ed25519.PublicKey{pub}},
		Activate: eng.Load}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runWatcher(t, w)

	mb, onnx := models.Default()
	var lat []time.Duration
	for i := 1; i <= 20; i++ {
		var m map[string]any
		_ = json.Unmarshal(mb, &m)
		m["version"] = fmt.Sprintf("1.1.%d", i)
		b, _ := json.Marshal(m)
		man, err := modelpkg.DecodeManifest(b)
		if err != nil {
			t.Fatal(err)
		}
		pkg, err := modelpkg.NewPackage(man, onnx)
		if err != nil {
			t.Fatal(err)
		}
		if err := modelpkg.Sign(pkg, priv); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := PublishModel(context.Background(), cfg, pkg, 0, nil, WithReleaseKey(priv)); err != nil {
			t.Fatal(err)
		}
		want := m["version"].(string)
		waitFor(t, 10*time.Second, "activation of "+want, func() bool { _, v, ok := eng.Active(); return ok && v == want })
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("push->activation over %d pushes: p50 %s, p99 %s (max)", len(lat), lat[len(lat)/2], lat[len(lat)-1])
	stop()

	srv.Stop()
	eng2, err := inference.NewEngine(inference.EngineConfig{Gateway: "gw-test"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng2.Close() })
	w2, err := NewModelWatcher(ModelWatcherConfig{Kafka: cfg, Dir: dir, Policy: modelpkg.Policy{Keys: []ed25519.PublicKey{pub}},
		Activate: eng2.Load}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := w2.Restore(); err != nil {
		t.Fatal(err)
	}
	if _, v, ok := eng2.Active(); !ok || v != "1.1.20" {
		t.Fatalf("offline restore: %q %v", v, ok)
	}
	t.Logf("offline restore to a serving engine took %s", time.Since(start))
}
