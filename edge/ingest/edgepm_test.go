package ingest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testNow = time.UnixMilli(1_780_000_000_000)

// testDecoder is the edgepm decoder for cfg, receiving at testNow.
type testDecoder struct{ d Decoder }

func newTestDecoder(t testing.TB, cfg ValidationConfig) testDecoder {
	d, err := NewDecoder(FormatEdgepm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return testDecoder{d}
}

func (d testDecoder) Decode(device string, fields map[string]string, payload []byte) ([]Reading, error) {
	return d.d.Decode(nil, Source{Device: device, Fields: fields, Received: testNow}, payload)
}

func TestDecodeObject(t *testing.T) {
	d := newTestDecoder(t, ValidationConfig{})
	rs, err := d.Decode("pump-1", map[string]string{"site": "s"}, []byte(`{"ts": 1780000000500, "seq": 7, "values": {"vibration_rms": 2.5, "bearing_temp_c": 61}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d readings", len(rs))
	}
	r := rs[0]
	if r.Device != "pump-1" || r.DeviceSeq != 7 || r.Values["vibration_rms"] != 2.5 || !r.Time.Equal(time.UnixMilli(1780000000500)) || r.Fields["site"] != "s" {
		t.Fatalf("got %+v", r)
	}
}

func TestDecodeRFC3339AndMissingTS(t *testing.T) {
	d := newTestDecoder(t, ValidationConfig{})
	rs, err := d.Decode("d", nil, []byte(`{"ts":"2026-05-28T20:26:40.5Z","values":{"a":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 5, 28, 20, 26, 40, 5e8, time.UTC); !rs[0].Time.Equal(want) {
		t.Fatalf("time %s, want %s", rs[0].Time, want)
	}
	rs, err = d.Decode("d", nil, []byte(`{"values":{"a":1}}`))
	if err != nil || !rs[0].Time.Equal(testNow) {
		t.Fatalf("missing ts: %v %v", rs, err)
	}
}

func TestDecodeBatchAndWaveform(t *testing.T) {
	d := newTestDecoder(t, ValidationConfig{})
	rs, err := d.Decode("d", nil, []byte(`{"readings":[{"ts":1780000000000,"values":{"a":1}},{"ts":1780000001000,"values":{"a":2}}]}`))
	if err != nil || len(rs) != 2 || rs[1].Values["a"] != 2 {
		t.Fatalf("batch: %v %v", rs, err)
	}
	rs, err = d.Decode("d", nil, []byte(`{"waveform":{"channel":"vibration","rate_hz":1000,"samples":[0.1,-0.2,0.3]}}`))
	if err != nil || rs[0].Waveform == nil || len(rs[0].Waveform.Samples) != 3 {
		t.Fatalf("waveform: %v %v", rs, err)
	}
}

func TestDecodeInvalid(t *testing.T) {
	cfg := ValidationConfig{MaxPayloadBytes: 200, MaxClockSkew: time.Hour, MaxBatch: 2,
		Ranges: map[string]Range{"temp": {Min: -40, Max: 200}}, Devices: []string{"pump-*"}, UnknownDevice: UnknownDeviceReject}
	d := newTestDecoder(t, cfg)
	cases := []struct {
		name, device, payload, reason string
	}{
		{"malformed", "pump-1", `{"values":`, ReasonMalformed},
		{"not json", "pump-1", `hello`, ReasonMalformed},
		{"NaN token", "pump-1", `{"values":{"temp":NaN}}`, ReasonMalformed},
		{"trailing", "pump-1", `{"values":{"temp":1}} {}`, ReasonMalformed},
		{"wrong type", "pump-1", `{"values":{"temp":"hot"}}`, ReasonWrongType},
		{"values not object", "pump-1", `{"values":[1,2]}`, ReasonWrongType},
		{"overflow", "pump-1", `{"values":{"temp":1e999}}`, ReasonNonFinite},
		{"missing values", "pump-1", `{"ts":1780000000000}`, ReasonMissing},
		{"empty batch", "pump-1", `{"readings":[]}`, ReasonMissing},
		{"too large", "pump-1", `{"values":{"temp":1}, "pad":"` + strings.Repeat("x", 300) + `"}`, ReasonTooLarge},
		{"batch too large", "pump-1", `{"readings":[{"values":{"a":1}},{"values":{"a":1}},{"values":{"a":1}}]}`, ReasonTooLarge},
		{"out of range", "pump-1", `{"values":{"temp":900}}`, ReasonOutOfRange},
		{"skew", "pump-1", `{"ts":1,"values":{"temp":1}}`, ReasonClockSkew},
		{"future", "pump-1", `{"ts":1780000600000,"values":{"temp":1}}`, ReasonClockSkew},
		{"bad ts", "pump-1", `{"ts":"yesterday","values":{"temp":1}}`, ReasonBadTimestamp},
		{"float ts", "pump-1", `{"ts":1.5,"values":{"temp":1}}`, ReasonBadTimestamp},
		{"unknown device", "fan-1", `{"values":{"temp":1}}`, ReasonUnknownDevice},
		{"bad batch member", "pump-1", `{"readings":[{"values":{"temp":1}},{"values":{"temp":999}}]}`, ReasonOutOfRange},
		{"waveform rate", "pump-1", `{"waveform":{"channel":"v","rate_hz":0,"samples":[1]}}`, ReasonOutOfRange},
		{"waveform empty", "pump-1", `{"waveform":{"channel":"v","rate_hz":10,"samples":[]}}`, ReasonMissing},
	}
	for _, c := range cases {
		rs, err := d.Decode(c.device, nil, []byte(c.payload))
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%s: got %v, %v; want InvalidError %s", c.name, rs, err, c.reason)
			continue
		}
		if ie.Reason != c.reason {
			t.Errorf("%s: reason %s (%s), want %s", c.name, ie.Reason, ie.Detail, c.reason)
		}
		if rs != nil {
			t.Errorf("%s: readings returned with an error", c.name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"ts": 1780000000500, "seq": 7, "values": {"vibration_rms": 2.5}}`,
		`{"readings":[{"values":{"a":1}},{"values":{"a":2}}]}`,
		`{"waveform":{"channel":"v","rate_hz":1000,"samples":[0.1,-0.2]}}`,
		`{"values":{"temp":1e999}}`, `{"values":{"t":NaN}}`, `{"ts":"2026-01-01T00:00:00Z","values":{"a":-1}}`,
	} {
		f.Add([]byte(s))
	}
	d := newTestDecoder(f, ValidationConfig{Ranges: map[string]Range{"a": {Min: -10, Max: 10}}})
	f.Fuzz(func(t *testing.T, payload []byte) {
		rs, err := d.Decode("dev", nil, payload)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason == "" {
				t.Fatalf("error is not an InvalidError with a reason: %v", err)
			}
			return
		}
		if len(rs) == 0 {
			t.Fatal("no readings and no error")
		}
		for _, r := range rs {
			if len(r.Values) == 0 && r.Waveform == nil {
				t.Fatal("reading without values")
			}
			if v, ok := r.Values["a"]; ok && (v < -10 || v > 10) {
				t.Fatalf("range not enforced: %v", v)
			}
		}
	})
}
