package edge

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/internal/wire"
)

func TestAppendReadingValueMatchesJSON(t *testing.T) {
	rs := []ingest.Reading{
		{Device: "pump-1", Time: time.UnixMilli(1780000000123), Received: time.UnixMilli(1780000000456), DeviceSeq: 42,
			Fields: map[string]string{"site": "s1", "line": "l\"1"}, Values: map[string]float64{"a": 1.5, "b": -2e-9, "c": 1e21, "ü": 0}},
		{Device: "x\n", Time: time.UnixMilli(0), Received: time.UnixMilli(1)},
		{Device: "w", Time: time.UnixMilli(5), Received: time.UnixMilli(6), Waveform: &ingest.Waveform{Channel: "v", RateHz: 100, Samples: []float64{0.1, -0.2}}},
	}
	dec, err := ingest.NewDecoder(ingest.FormatEdgepm, ingest.ValidationConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err = dec.Decode(rs, ingest.Source{Device: "raw", Received: time.UnixMilli(8)}, []byte(`{"ts":7,"values": {"x": 1.50, "y":-2e3}}`))
	if err != nil || rs[len(rs)-1].ValuesJSON == nil {
		t.Fatalf("fast path refused: %v", err)
	}
	for i := range rs {
		r := &rs[i]
		got := appendReadingValue(nil, "gw-1", r)
		want := mustJSON(wire.Reading{V: wire.Version, Gateway: "gw-1", Device: r.Device, Fields: r.Fields,
			TS: unixMs(r.Time), Received: unixMs(r.Received), DeviceSeq: r.DeviceSeq, Values: r.Values, Waveform: (*wire.Waveform)(r.Waveform)})
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("reading %d: invalid JSON %s: %v", i, got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("reading %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func BenchmarkAppendReadingValue(b *testing.B) {
	r := ingest.Reading{Device: "pump-0001", Time: time.Now(), Received: time.Now(), DeviceSeq: 9, Fields: map[string]string{"site": "s1", "line": "l1"},
		Values: map[string]float64{"vibration_rms": 2.31, "vibration_kurtosis": 3.2, "bearing_temp_c": 61.2, "current_a": 12.1, "speed_rpm": 1480}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendReadingValue(buf[:0], "gw-1", &r)
	}
}

func TestAppendPredictionValueMatchesJSON(t *testing.T) {
	floats := []float64{0, 1, -1, 0.5, 0.1, 1.0 / 3, 123456789.125, 1e-6, 9.99e-7, -2e-9, 1e20, 1e21, -3.4e38,
		5e-324, 1.7976931348623157e308, 0.000123}
	now := time.UnixMilli(1780000000999)
	var preds []inference.Prediction
	for i, f := range floats {
		if math.Abs(f) > math.MaxFloat32 {
			f = 1 // outputs are finite float32
		}
		preds = append(preds, inference.Prediction{Device: fmt.Sprintf("d-%d", i), Model: "m\"x", ModelVersion: "1.0",
			WindowEnd: time.UnixMilli(1780000000000 + int64(i)), Score: f,
			Outputs: []float32{float32(f), float32(f) / 7, 1e-7, 3e38}, FeatureHash: "0123456789abcdef"})
	}
	preds = append(preds, inference.Prediction{Device: "ü\n", Model: "m", ModelVersion: "2", Score: 0.25})
	b := inference.BatchOf(preds, nil)
	for i, p := range preds {
		got := appendPredictionValue(nil, "gw\t1", b, i, now)
		want := mustJSON(wire.Prediction{V: wire.Version, Gateway: "gw\t1", Device: p.Device, Model: p.Model,
			ModelVersion: p.ModelVersion, WindowEnd: unixMs(p.WindowEnd), TS: unixMs(now), Score: p.Score,
			Outputs: p.Outputs, FeatureHash: p.FeatureHash})
		if string(got) != string(want) {
			t.Errorf("prediction %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func BenchmarkPredictionRecords(b *testing.B) {
	preds := make([]inference.Prediction, 256)
	for i := range preds {
		preds[i] = inference.Prediction{Device: fmt.Sprintf("pump-%04d", i), Model: "edgepm-default", ModelVersion: "1.0.0",
			WindowEnd: time.UnixMilli(1780000000000 + int64(i)), Score: 0.0123 * float64(i%80), Outputs: []float32{0.0123 * float32(i%80)},
			FeatureHash: "0123456789abcdef"}
	}
	a := testOutputApp()
	a.cfg.GatewayID = "gw-1"
	batch := inference.BatchOf(preds, nil)
	b.ReportAllocs()
	for b.Loop() {
		a.predictionRecords(batch, &a.outs.served)
	}
	b.ReportMetric(float64(b.N*len(preds))/b.Elapsed().Seconds(), "records/s")
}
