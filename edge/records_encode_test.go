package edge

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestAppendReadingValueMatchesJSON(t *testing.T) {
	rs := []Reading{
		{Device: "pump-1", Time: time.UnixMilli(1780000000123), Received: time.UnixMilli(1780000000456), DeviceSeq: 42,
			Fields: map[string]string{"site": "s1", "line": "l\"1"}, Values: map[string]float64{"a": 1.5, "b": -2e-9, "c": 1e21, "ü": 0}},
		{Device: "x\n", Time: time.UnixMilli(0), Received: time.UnixMilli(1)},
		{Device: "w", Time: time.UnixMilli(5), Received: time.UnixMilli(6), Waveform: &Waveform{Channel: "v", RateHz: 100, Samples: []float64{0.1, -0.2}}},
	}
	fast, ok := fastDecode([]byte(`{"values": {"x": 1.50, "y":-2e3}}`))
	if !ok {
		t.Fatal("fast path refused")
	}
	rs = append(rs, Reading{Device: "raw", Time: time.UnixMilli(7), Received: time.UnixMilli(8), Values: fast.Values, rawValues: fast.rawValues})
	for i := range rs {
		r := &rs[i]
		got := appendReadingValue(nil, "gw-1", r)
		want := mustJSON(readingValue{V: SchemaVersion, Gateway: "gw-1", Device: r.Device, Fields: r.Fields,
			TS: unixMs(r.Time), Received: unixMs(r.Received), DeviceSeq: r.DeviceSeq, Values: r.Values, Waveform: r.Waveform})
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
	r := Reading{Device: "pump-0001", Time: time.Now(), Received: time.Now(), DeviceSeq: 9, Fields: map[string]string{"site": "s1", "line": "l1"},
		Values: map[string]float64{"vibration_rms": 2.31, "vibration_kurtosis": 3.2, "bearing_temp_c": 61.2, "current_a": 12.1, "speed_rpm": 1480}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendReadingValue(buf[:0], "gw-1", &r)
	}
}
