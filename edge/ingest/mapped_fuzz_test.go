package ingest

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"testing"
)

// checkFuzzResult holds for every decoder: an InvalidError with a reason
// or readings with finite values; never a payload encoding/json rejects.
func checkFuzzResult(t *testing.T, payload []byte, rs []Reading, err error) {
	t.Helper()
	if err != nil {
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Reason == "" {
			t.Fatalf("error is not an InvalidError with a reason: %v", err)
		}
		return
	}
	if !json.Valid(payload) {
		t.Fatalf("accepted invalid JSON %q", payload)
	}
	if len(rs) == 0 {
		t.Fatal("no readings and no error")
	}
	for _, r := range rs {
		if len(r.Values) == 0 || r.Device == "" {
			t.Fatalf("reading without values or device: %+v", r)
		}
		for k, v := range r.Values {
			if k == "" || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("value %q = %v", k, v)
			}
		}
	}
}

func FuzzFlatDecode(f *testing.F) {
	for _, s := range []string{
		`{"device":"pump-7","ts":1780000000,"temp":61.2,"running":true}`,
		`[{"device":"a","v":1},{"device":"b","v":2,"m":{"x":{"y":3}}}]`,
		`{"ts":"2026-05-28T20:26:40Z","a\u00e9":1,"l":"lab","arr":[1,[2],{"z":null}]}`,
		`{"ts":1780000000.5,"n":7,"a":-1e-3,"s":"x\"y"}`,
		`{"a":1e999}`, `{"a":1,"a":2}`, `[]`, `{"ts":1e300,"a":1}`,
	} {
		f.Add([]byte(s))
	}
	d := newFlatTest(f, &FlatMapping{DeviceField: "device", TimestampUnit: UnitSeconds, SeqField: "n", Labels: []string{"l"}},
		ValidationConfig{MaxClockSkew: -1, MaxFutureSkew: -1, Ranges: map[string]Range{"a": {Min: -10, Max: 10}}})
	sc := newScratch()
	f.Fuzz(func(t *testing.T, payload []byte) {
		rs, err := d.Decode(nil, Source{Device: "topic-dev", Received: testNow, sc: sc}, payload)
		checkFuzzResult(t, payload, rs, err)
		for _, r := range rs {
			checkValuesJSON(t, r)
		}
		sc.recycle()
	})
}

// checkValuesJSON: a reading's ValuesJSON, when set, is its Values.
func checkValuesJSON(t *testing.T, r Reading) {
	t.Helper()
	if r.ValuesJSON == nil {
		return
	}
	var got map[string]float64
	if err := json.Unmarshal(r.ValuesJSON, &got); err != nil {
		t.Fatalf("ValuesJSON %q: %v", r.ValuesJSON, err)
	}
	if !maps.Equal(got, r.Values) {
		t.Fatalf("ValuesJSON %s, Values %v", r.ValuesJSON, r.Values)
	}
}

func FuzzTelegrafDecode(f *testing.F) {
	for _, s := range []string{
		`{"fields":{"usage_idle":91.5,"up":true,"s":"x"},"name":"cpu","tags":{"cpu":"cpu-total","host":"pump-7"},"timestamp":1780000000}`,
		`{"metrics":[{"fields":{"a":1},"name":"m","tags":{"host":"p1"},"timestamp":1780000000},{"fields":{"b":2},"name":"m","tags":{"host":"p1"},"timestamp":1780000000}]}`,
		`{"metrics":[],"x":1}`, `{"fields":{"a":null},"name":"n"}`, `{"fields":{"a":1},"timestamp":"2026-05-28T20:26:40Z"}`,
	} {
		f.Add([]byte(s))
	}
	d := newTelegrafTest(f, &TelegrafMapping{Labels: []string{"cpu", "s"}}, ValidationConfig{MaxClockSkew: -1, MaxFutureSkew: -1})
	f.Fuzz(func(t *testing.T, payload []byte) {
		rs, err := decodeAt(d, string(payload))
		checkFuzzResult(t, payload, rs, err)
	})
}

func FuzzRawWaveformDecode(f *testing.F) {
	for _, s := range []string{"", "\x00\x00\x00\x3f", "\x00\x00\xc0\x7f", "abc", "\x00\x00\x80\x3f\x00\x00\x80\xbf"} {
		f.Add([]byte(s))
	}
	d := newMappedTest(f, Subscription{Topic: "vib/{device}", Format: FormatWaveformF32LE,
		Waveform: &WaveformMapping{Channel: "v", RateHz: 1000}}, ValidationConfig{MaxWaveformSamples: 64})
	f.Fuzz(func(t *testing.T, payload []byte) {
		rs, err := d.Decode(nil, Source{Device: "d", Received: testNow}, payload)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason == "" {
				t.Fatalf("error is not an InvalidError with a reason: %v", err)
			}
			return
		}
		w := rs[0].Waveform
		if len(rs) != 1 || w == nil || len(w.Samples) != len(payload)/4 || len(w.Samples) > 64 {
			t.Fatalf("got %+v for %d bytes", rs, len(payload))
		}
	})
}
