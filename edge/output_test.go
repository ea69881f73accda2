package edge

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference"
)

func testOutputApp() *App {
	return &App{log: slog.New(slog.DiscardHandler), devices: newDeviceTable(10, -1, nil), rates: newRateMeter(),
		m: newMetrics(nil, func() float64 { return 0 }, func() float64 { return 0 }), outs: newOutputs()}
}

// With the buffer wedged (nothing drains the output queues), emit gives up
// after its bound and counts the predictions it could not queue, instead of
// stalling inference (and with it local alerts) forever.
func TestEmitDoesNotBlockOnAWedgedBuffer(t *testing.T) {
	a := testOutputApp()
	for len(a.outs.preds) < cap(a.outs.preds) {
		a.outs.preds <- nil
	}
	preds := []inference.Prediction{{Device: "d", Score: 0.5}, {Device: "d", Score: 0.6}}
	a.emit(inference.BatchOf(preds, nil)) // returns after predictionWait; a hang fails the test by its timeout
	if got := testutil.ToFloat64(a.m.dropped.WithLabelValues(buffer.StreamPredictions, "output_queue_full")); got != 2 {
		t.Fatalf("dropped counter %v, want 2", got)
	}
}

// After shutdown closed the queues' stop channel, a late emit (inference
// still draining) neither panics nor waits.
func TestEmitAfterStop(t *testing.T) {
	a := testOutputApp()
	for len(a.outs.preds) < cap(a.outs.preds) {
		a.outs.preds <- nil
	}
	close(a.outs.stop)
	done := make(chan struct{})
	go func() { a.emit(inference.BatchOf([]inference.Prediction{{Device: "d"}}, nil)); close(done) }()
	select {
	case <-done:
	case <-time.After(predictionWait / 2):
		t.Fatal("emit waited after stop")
	}
}
