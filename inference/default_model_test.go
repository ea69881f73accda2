package inference_test

import (
	"context"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/models"
)

// TestDefaultModelServes loads the committed default model (unsigned:
// trusted as part of the binary, so no policy applies) and scores one full
// window.
func TestDefaultModelServes(t *testing.T) {
	if err := inference.InitRuntime(testenv.ONNXRuntimeLib(t)); err != nil {
		t.Fatal(err)
	}
	man, onnx := models.Default()
	pkg := &modelpkg.Package{Manifest: man, ONNX: onnx}
	e, err := inference.NewEngine(inference.EngineConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Load(pkg); err != nil {
		t.Fatal(err)
	}
	// The default package is unsigned: a gateway's policy without the dev
	// flag rejects it wherever it came from other than the binary.
	if err := (modelpkg.Policy{}).Check(pkg); modelpkg.RejectReason(err) != modelpkg.ReasonSignature {
		t.Fatalf("strict policy: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan inference.Prediction, 100)
	done := make(chan error)
	go func() {
		done <- e.Run(ctx, func(b *inference.Batch) {
			for _, x := range b.AppendPredictions(nil) {
				got <- x
			}
		})
	}()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 30; i++ {
		r := inference.Reading{Device: "pump-0001", Time: t0.Add(time.Duration(i) * time.Second), Values: map[string]float64{
			"vibration_rms": 1.6, "vibration_kurtosis": 3.0, "bearing_temp_c": 55, "current_a": 40, "speed_rpm": 2950}}
		if err := e.Observe(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case p := <-got:
		if p.Model != "edgepm-default" || p.Score < 0 || p.Score > 1 {
			t.Fatalf("prediction %+v", p)
		}
		t.Logf("healthy pump score %.4f", p.Score)
	case <-time.After(10 * time.Second):
		t.Fatal("no prediction")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
