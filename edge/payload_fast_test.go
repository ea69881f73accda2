package edge

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestFastDecodeAcceptsCommonShape(t *testing.T) {
	for _, s := range []string{
		`{"ts":1780000000500,"seq":7,"values":{"vibration_rms":2.5,"bearing_temp_c":61}}`,
		" {\n\t\"values\" : { \"a\" : -0.5e-3 , \"b\":0 } , \"ts\" : \"2026-01-01T00:00:00Z\" }\r\n",
		`{}`, `{"values":{}}`, `{"seq":0}`,
	} {
		w, ok := fastDecode([]byte(s))
		if !ok {
			t.Errorf("fast path refused %q", s)
			continue
		}
		var want wireReading
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(w), normalize(want)) {
			t.Errorf("%q: fast %+v, json %+v", s, w, want)
		}
	}
}

func TestFastDecodeFallsBack(t *testing.T) {
	for _, s := range []string{
		`{"TS":1,"values":{"a":1}}`, `{"ts":1,"ts":2}`, `{"values":{"a":"x"}}`, `{"values":{"a":1e999}}`,
		`{"values":{"a":NaN}}`, `{"values":{"a":1}} x`, `{"readings":[]}`, `{"values":null}`, `{"ts":null}`,
		`{"values":{"a\u00e9":1}}`, `{"values":{"é":1}}`, `{"seq":-1}`, `{"seq":1.5}`, `{"values":{"a":01}}`,
		`{"values":{"a":1.}}`, `{"values":{"a":1,}}`, `{"values":{"a":1,"a":2}}`, `{,}`, `{"ts":1,}`, ``, `[]`, `{"values":{"a":1}`,
	} {
		if w, ok := fastDecode([]byte(s)); ok {
			t.Errorf("fast path accepted %q as %+v", s, w)
		}
	}
}

// normalize makes an empty RawMessage and a nil one compare equal and
// checks that rawValues, when set, decodes to Values.
func normalize(w wireReading) wireReading {
	if len(w.TS) == 0 {
		w.TS = nil
	}
	if w.rawValues != nil {
		var m map[string]float64
		if err := json.Unmarshal(w.rawValues, &m); err != nil || !reflect.DeepEqual(m, w.Values) {
			panic("rawValues " + string(w.rawValues) + " does not decode to Values")
		}
		w.rawValues = nil
	}
	return w
}

// FuzzFastDecodeMatchesJSON: whenever the fast path accepts an input,
// encoding/json accepts it too and decodes the same reading.
func FuzzFastDecodeMatchesJSON(f *testing.F) {
	for _, s := range []string{
		`{"ts":1780000000500,"seq":7,"values":{"vibration_rms":2.5,"bearing_temp_c":61}}`,
		`{"ts":"2026-01-01T00:00:00Z","values":{"a":-1e-3}}`, `{}`, `{"values":{"a":1,"a":2}}`, `{"seq":18446744073709551615}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, ok := fastDecode(b)
		if !ok {
			return
		}
		var want wireReading
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json rejects it: %v", b, err)
		}
		if !reflect.DeepEqual(normalize(w), normalize(want)) {
			t.Fatalf("%q: fast %+v, json %+v", b, w, want)
		}
	})
}
