package modelpkg

import (
	"crypto/ed25519"
	"testing"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

func testKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	priv := ed25519.NewKeyFromSeed(s)
	return priv.Public().(ed25519.PublicKey), priv
}

// testPackage returns a valid unsigned package of a logistic regression
// over f features, with samples computed by onnxgen.Eval.
func testPackage(t testing.TB, name, version string, f int) *Package {
	t.Helper()
	w := make([]float32, f)
	for i := range w {
		w[i] = float32(i+1) * 0.01
	}
	g := &onnxgen.Model{Name: "test", InputName: "features", OutputName: "failure_probability", Producer: "test",
		Layers: []onnxgen.Dense{{W: [][]float32{w}, B: []float32{-1}, Act: onnxgen.Sigmoid}}}
	sensors := []string{"vibration_rms", "bearing_temp_c"}
	stats := []features.Stat{features.Mean, features.Max, features.Std}
	man := &Manifest{SchemaVersion: SchemaVersion, Name: name, Version: version, InputName: g.InputName, OutputName: g.OutputName,
		OutputSemantics: SemanticsFailureProbability, Window: features.WindowConfig{Size: 10, Hop: 1},
		Thresholds: Thresholds{Raise: 0.7, Clear: 0.5}}
	for i := 0; i < f; i++ {
		man.Features = append(man.Features, features.Spec{Sensor: sensors[i%2], Stat: stats[(i/2)%len(stats)]})
		man.FeatureStats = append(man.FeatureStats, FeatureStat{Mean: 1, Std: 2})
	}
	for i := 0; i < 3; i++ {
		in := make([]float32, f)
		for j := range in {
			in[j] = float32(i*10 + j)
		}
		man.Samples = append(man.Samples, Sample{Input: in, Output: onnxgen.Eval(g, in)})
	}
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}
