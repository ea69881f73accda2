package edge

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/internal/wire"
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

// Shadow predictions carry edgepm-shadow and the shadow model's header,
// never wait, and leave the served predictions half of the output queue:
// past it they are dropped and counted.
func TestEmitShadow(t *testing.T) {
	a := testOutputApp()
	preds := []inference.Prediction{{Device: "d", Model: "m", ModelVersion: "2", Score: 0.5}}
	a.emitShadow(inference.BatchOf(preds, nil))
	recs := <-a.outs.preds
	if len(recs) != 1 || recs[0].Stream != buffer.StreamPredictions || len(recs[0].Headers) != 3 ||
		string(recs[0].Headers[1].Value) != "m:2" || recs[0].Headers[2].Key != wire.HeaderShadow {
		t.Fatalf("shadow records %+v", recs)
	}
	for len(a.outs.preds) < cap(a.outs.preds)/2 {
		a.outs.preds <- nil
	}
	a.emitShadow(inference.BatchOf(preds, nil)) // a wait would hang the test
	if n := len(a.outs.preds); n != cap(a.outs.preds)/2 {
		t.Fatalf("shadow predictions queued past half the output queue: %d", n)
	}
	if got := testutil.ToFloat64(a.m.dropped.WithLabelValues(buffer.StreamPredictions, "shadow_output_queue_full")); got != 1 {
		t.Fatalf("dropped counter %v, want 1", got)
	}
	a.emit(inference.BatchOf([]inference.Prediction{{Device: "d", Model: "m", ModelVersion: "1"}}, nil))
	if n := len(a.outs.preds); n != cap(a.outs.preds)/2+1 {
		t.Fatalf("served predictions not queued in the room left to them: %d", n)
	}
}
