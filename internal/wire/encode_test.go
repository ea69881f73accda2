package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// AppendReading writes what encoding/json writes for the same Reading (up to
// the order of map keys), with and without the decoder's raw values.
func TestAppendReadingMatchesJSON(t *testing.T) {
	rs := []Reading{
		{Gateway: "gw-1", Device: "pump-1", TS: 1780000000123, Received: 1780000000456, DeviceSeq: 42,
			Fields: map[string]string{"site": "s1", "line": "l\"1"}, Values: map[string]float64{"a": 1.5, "b": -2e-9, "c": 1e21, "ü": 0}},
		{Gateway: "gw\t1", Device: "x\n", TS: 0, Received: 1},
		{Gateway: "gw", Device: "w", TS: 5, Received: 6, Waveform: &Waveform{Channel: "v", RateHz: 100, Samples: []float64{0.1, -0.2}}},
	}
	for i := range rs {
		r := &rs[i]
		r.V = Version
		assertSameJSON(t, fmt.Sprint("reading ", i), AppendReading(nil, r, nil), MustJSON(r))
	}
	raw := Reading{V: Version, Gateway: "gw", Device: "raw", TS: 7, Received: 8, Values: map[string]float64{"x": 1.5, "y": -2e3}}
	assertSameJSON(t, "raw values", AppendReading(nil, &raw, []byte(`{"x": 1.50, "y":-2e3}`)), MustJSON(&raw))
}

func assertSameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: invalid JSON %s: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// AppendPrediction writes byte for byte what encoding/json writes.
func TestAppendPredictionMatchesJSON(t *testing.T) {
	floats := []float64{0, 1, -1, 0.5, 0.1, 1.0 / 3, 123456789.125, 1e-6, 9.99e-7, -2e-9, 1e20, 1e21, -3.4e38,
		5e-324, 1.7976931348623157e308, 0.000123}
	var ps []Prediction
	for i, f := range floats {
		o := f
		if math.Abs(o) > math.MaxFloat32 {
			o = 1 // outputs are finite float32
		}
		ps = append(ps, Prediction{V: Version, Gateway: "gw\t1", Device: fmt.Sprintf("d-%d", i), Model: "m\"x",
			ModelVersion: "1.0", WindowEnd: 1780000000000 + int64(i), TS: 1780000000999, Score: f,
			Outputs: []float32{float32(o), float32(o) / 7, 1e-7, 3e38}, FeatureHash: "0123456789abcdef"})
	}
	ps = append(ps, Prediction{V: Version, Gateway: "gw", Device: "ü\n", Model: "m", ModelVersion: "2", Score: 0.25})
	for i := range ps {
		got, want := AppendPrediction(nil, &ps[i]), MustJSON(&ps[i])
		if string(got) != string(want) {
			t.Errorf("prediction %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func BenchmarkAppendReading(b *testing.B) {
	r := Reading{Gateway: "gw-1", Device: "pump-0001", TS: 1780000000123, Received: 1780000000125, DeviceSeq: 9,
		Fields: map[string]string{"site": "s1", "line": "l1"},
		Values: map[string]float64{"vibration_rms": 2.31, "vibration_kurtosis": 3.2, "bearing_temp_c": 61.2, "current_a": 12.1, "speed_rpm": 1480}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendReading(buf[:0], &r, nil)
	}
}
