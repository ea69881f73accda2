package replay

import (
	"maps"
	"testing"

	"github.com/edgepm/edgepm/internal/wire"
)

// What the bridge writes takes the fast path.
func TestDecodeFastTakesBridgeRecords(t *testing.T) {
	r := wire.Reading{Gateway: "gw", Device: "pump-1", Fields: map[string]string{"site": "s1", "line": "l"}, TS: 1735689600123,
		Received: 1735689600200, DeviceSeq: 7, Values: map[string]float64{"a": 1.5, "b": -2e-7, "c": 0}}
	var got Reading
	if !decodeFast(wire.AppendReading(nil, &r, nil), &got) {
		t.Fatal("fast path refused a bridge record")
	}
	if got.Device != "pump-1" || got.Time.UnixMilli() != r.TS || !maps.Equal(got.Values, r.Values) {
		t.Fatalf("%+v", got)
	}
}

// FuzzDecodeFast: whenever the fast path accepts a value, encoding/json
// accepts it too and gives the same reading.
func FuzzDecodeFast(f *testing.F) {
	f.Add([]byte(`{"v":1,"gateway":"g","device":"d","fields":{"site":"x"},"ts":1000,"received":1000,"device_seq":3,"values":{"a":1.5,"b":-0.0,"c":1e-300}}`))
	f.Add([]byte(`{"v":1,"gateway":"g","device":"d","ts":-5,"received":0}`))
	f.Add([]byte(`{"v":1,"device":"d","ts":1,"values":{"a":1,"a":2}}`))
	f.Add([]byte(`{"device":"d","ts":01,"values":{"a":1e999}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast := Reading{Values: map[string]float64{"stale": 1}}
		if !decodeFast(b, &fast) {
			return
		}
		var slow Reading
		if err := decodeJSON(b, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses (%v): %s", err, b)
		}
		if fast.Device != slow.Device || !fast.Time.Equal(slow.Time) || !maps.Equal(fast.Values, slow.Values) || slow.Waves != nil {
			t.Fatalf("fast %+v, encoding/json %+v: %s", fast, slow, b)
		}
	})
}
