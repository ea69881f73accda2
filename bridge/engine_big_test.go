package bridge

import (
	"context"
	"crypto/ed25519"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
	"github.com/edgepm/edgepm/internal/testenv"
)

// bigGraph returns a deterministic, valid MLP: f inputs -> hidden ReLU units
// -> 1 sigmoid output. Its model.onnx holds (f+2)*hidden+1 float32 weights.
// The rows of W share one backing array (one allocation, not hidden of
// them). Output weights are scaled by 1/sqrt(hidden) so the logit is O(1)
// and the sigmoid is not saturated: the samples then check ONNX Runtime's
// arithmetic against onnxgen.Eval rather than comparing 1 with 1.
func bigGraph(f, hidden int, seed uint64) *onnxgen.Model {
	rng := rand.New(rand.NewPCG(seed, 1))
	flat := make([]float32, hidden*f)
	for i := range flat {
		flat[i] = float32(rng.NormFloat64() * 0.1)
	}
	w1 := make([][]float32, hidden)
	for i := range w1 {
		w1[i] = flat[i*f : (i+1)*f : (i+1)*f]
	}
	b1 := make([]float32, hidden)
	w2 := make([]float32, hidden)
	s := 1 / math.Sqrt(float64(hidden))
	for j := range w2 {
		w2[j] = float32(rng.NormFloat64() * s)
	}
	return &onnxgen.Model{Name: "big", InputName: "features", OutputName: "failure_probability", Producer: "edgepm-test",
		Layers: []onnxgen.Dense{{W: w1, B: b1, Act: onnxgen.ReLU}, {W: [][]float32{w2}, B: []float32{0}, Act: onnxgen.Sigmoid}}}
}

// bigSpecs returns n valid feature specs cycling stats over pump sensors.
func bigSpecs(n int) []features.Spec {
	sensors := []string{"vibration_rms", "bearing_temp_c", "current_a", "speed_rpm"}
	stats := []features.Stat{features.Mean, features.Std, features.Max, features.Slope,
		features.RMS, features.Kurtosis, features.Last, features.EWMA}
	var specs []features.Spec
	for i := 0; len(specs) < n; i++ {
		specs = append(specs, features.Spec{Sensor: sensors[i%len(sensors)], Stat: stats[(i/len(sensors))%len(stats)]})
	}
	return specs
}

// bigPackage builds a package for g with samples from onnxgen.Eval, signed
// by priv.
func bigPackage(t testing.TB, version string, g *onnxgen.Model, priv ed25519.PrivateKey) *modelpkg.Package {
	t.Helper()
	f := g.Features()
	specs := bigSpecs(f)
	man := &modelpkg.Manifest{SchemaVersion: 1, Name: "pump-health", Version: version,
		InputName: g.InputName, OutputName: g.OutputName, OutputSemantics: modelpkg.SemanticsFailureProbability,
		Window: features.WindowConfig{Size: 10, Hop: 1}, Features: specs,
		Thresholds: modelpkg.Thresholds{Raise: 0.7, Clear: 0.5}}
	for i := 0; i < 3; i++ {
		in := make([]float32, f)
		for j := range in {
			in[j] = float32(math.Sin(float64(i*f+j))) * 2
		}
		man.Samples = append(man.Samples, modelpkg.Sample{Input: in, Output: onnxgen.Eval(g, in)})
	}
	for range specs {
		man.FeatureStats = append(man.FeatureStats, modelpkg.FeatureStat{Mean: 0, Std: 1})
	}
	onnx, err := onnxgen.Marshal(g)
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
	return pkg
}

// Issue 5's acceptance with the real engine: a valid ONNX model of >= 64 MiB
// is pushed through a broker whose max message size is 1 MB, reassembled,
// verified, validated by ONNX Runtime (warm-up and samples) and activated.
// A corrupted chunk, a wrong signature and a package the engine itself
// refuses (sample mismatch) are then each rejected with their reason while
// the big model keeps serving.
func TestModelDelivery64MBToEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB model through kfake and ONNX Runtime; skipped with -short")
	}
	if err := inference.InitRuntime(testenv.ONNXRuntimeLib(t)); err != nil {
		t.Fatal(err)
	}
	const nFeatures, hidden = 32, 500_000 // (32+2)*500,000*4 B = 68 MB of weights
	buildStart := time.Now()
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	big := bigPackage(t, "2.0.0", bigGraph(nFeatures, hidden, 1), priv)
	if len(big.ONNX) < 64<<20 {
		t.Fatalf("model.onnx is %d bytes, want >= 64 MiB", len(big.ONNX))
	}
	t.Logf("built a %.1f MiB model.onnx in %s", float64(len(big.ONNX))/(1<<20), time.Since(buildStart).Round(time.Millisecond))

	srv := testenv.StartKafka(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "1048588"}))
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	eng, err := inference.NewEngine(inference.EngineConfig{Gateway: "gw-test", MaxBatch: 4}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	w, err := NewModelWatcher(ModelWatcherConfig{Kafka: cfg, Dir: t.TempDir(), Policy: modelpkg.Policy{Keys: []ed25519.PublicKey{pub}},
		Activate: eng.Load}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w)

	ctx := context.Background()
	start := time.Now()
	env, err := PublishModel(ctx, cfg, big, 0, nil, WithReleaseKey(priv))
	if err != nil {
		t.Fatal(err)
	}
	published := time.Since(start)
	if env.Chunks < len(big.ONNX)/(1<<20) {
		t.Fatalf("%d chunks for %d bytes", env.Chunks, len(big.ONNX))
	}
	waitFor(t, 120*time.Second, "2.0.0 active in the engine", func() bool {
		_, v, ok := eng.Active()
		return ok && v == "2.0.0"
	})
	t.Logf("push->activation of %.1f MiB in %d chunks through a 1 MB broker: %s (publish %s)",
		float64(len(big.ONNX))/(1<<20), env.Chunks, time.Since(start).Round(time.Millisecond), published.Round(time.Millisecond))

	stillServing := func(what string) {
		t.Helper()
		if _, v, ok := eng.Active(); !ok || v != "2.0.0" {
			t.Fatalf("after %s the engine serves %q (ok %v), want 2.0.0", what, v, ok)
		}
		if m := modelState_(w, "pump-health"); m.Active != "2.0.0" {
			t.Fatalf("after %s: %+v", what, m)
		}
	}
	waitRejected := func(version, reason string) {
		t.Helper()
		waitFor(t, 30*time.Second, version+" rejected", func() bool {
			m := modelState_(w, "pump-health")
			return m.State == "rejected" && m.Wanted == version
		})
		if m := modelState_(w, "pump-health"); !contains(m.LastError, reason) {
			t.Fatalf("%s rejected without %q in its reason: %+v", version, reason, m)
		}
	}
	// Rejections use a valid ~5 MB model (several 512 KiB chunks).
	small := bigGraph(nFeatures, 40_000, 2)

	// A corrupted chunk.
	bad := bigPackage(t, "3.0.0", small, priv)
	benv, chunks, err := splitPackage(bad, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	chunks[2] = append([]byte(nil), chunks[2]...)
	chunks[2][100] ^= 0xff
	publishRaw(t, cfg, benv, chunks, priv)
	waitRejected("3.0.0", "chunk_sha256")
	stillServing("a corrupted chunk")

	// A wrong signature.
	if _, err := PublishModel(ctx, cfg, bigPackage(t, "4.0.0", small, otherPriv), 0, nil, WithReleaseKey(priv)); err != nil {
		t.Fatal(err)
	}
	waitRejected("4.0.0", "signature")
	stillServing("a wrong signature")

	// Intact and signed, but the engine's validation refuses it: a sample's
	// expected output is wrong.
	mism := bigPackage(t, "5.0.0", small, priv)
	man, err := mism.Decode()
	if err != nil {
		t.Fatal(err)
	}
	man.Samples[0].Output[0] += 0.5
	if mism, err = modelpkg.NewPackage(man, mism.ONNX); err != nil {
		t.Fatal(err)
	}
	if err := modelpkg.Sign(mism, priv); err != nil {
		t.Fatal(err)
	}
	if _, err := PublishModel(ctx, cfg, mism, 0, nil, WithReleaseKey(priv)); err != nil {
		t.Fatal(err)
	}
	waitRejected("5.0.0", "sample")
	stillServing("a sample mismatch")
}
