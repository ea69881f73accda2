package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestFastDecodeAcceptsCommonShape(t *testing.T) {
	for _, s := range []string{
		`{"ts":1780000000500,"seq":7,"values":{"vibration_rms":2.5,"bearing_temp_c":61}}`,
		" {\n\t\"values\" : { \"a\" : -0.5e-3 , \"b\":0 } , \"ts\" : \"2026-01-01T00:00:00Z\" }\r\n",
		`{}`, `{"values":{}}`, `{"seq":0}`,
	} {
		w, ok := fastDecode([]byte(s), nil)
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
		if w, ok := fastDecode([]byte(s), nil); ok {
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
// encoding/json accepts it too and decodes the same reading (also with the
// maps and names of a scratch reused from earlier inputs).
func FuzzFastDecodeMatchesJSON(f *testing.F) {
	for _, s := range []string{
		`{"ts":1780000000500,"seq":7,"values":{"vibration_rms":2.5,"bearing_temp_c":61}}`,
		`{"ts":"2026-01-01T00:00:00Z","values":{"a":-1e-3}}`, `{}`, `{"values":{"a":1,"a":2}}`, `{"seq":18446744073709551615}`,
		`{"values":{"a":null}}`, "{\"values\":{\"\xff\":1}}",
	} {
		f.Add([]byte(s))
	}
	sc := newScratch() // reused across inputs, as ingest reuses it across batches
	f.Fuzz(func(t *testing.T, b []byte) {
		defer sc.recycle()
		w, ok := fastDecode(b, sc)
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
		// The plain path's strictness rejects nothing the fast path takes.
		if _, err := plainDecode(b, false); err != nil {
			t.Fatalf("fast path accepted %q, the plain path rejects it: %v", b, err)
		}
	})
}

// TestScratchReuse: value maps handed out for one batch come back empty for
// the next, interned names are shared, and bounds hold.
func TestScratchReuse(t *testing.T) {
	sc := newScratch()
	w1, ok1 := fastDecode([]byte(`{"values":{"a":1,"b":2}}`), sc)
	w2, ok2 := fastDecode([]byte(`{"values":{"a":3}}`), sc)
	if !ok1 || !ok2 || w1.Values["a"] != 1 || w2.Values["a"] != 3 || len(w1.Values) != 2 {
		t.Fatalf("decoded %v %v", w1.Values, w2.Values)
	}
	sc.recycle()
	w3, _ := fastDecode([]byte(`{"values":{"c":5}}`), sc)
	if len(w3.Values) != 1 || w3.Values["c"] != 5 {
		t.Fatalf("a reused map kept old values: %v", w3.Values)
	}
	if len(sc.free) != 1 || len(sc.used) != 1 {
		t.Fatalf("free %d used %d, want 1 and 1", len(sc.free), len(sc.used))
	}
	for i := range maxInternedNames + 10 {
		sc.intern([]byte(fmt.Sprintf("s%d", i)))
	}
	if len(sc.names) > maxInternedNames {
		t.Fatalf("%d names interned, bound %d", len(sc.names), maxInternedNames)
	}
	tt, err := ParseTopicTemplate("plant/{site}/{device}/telemetry")
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxCachedTopics + 10 {
		if _, _, ok := sc.match(tt, fmt.Sprintf("plant/s/d%d/telemetry", i)); !ok {
			t.Fatal("no match")
		}
	}
	if len(sc.topics) > maxCachedTopics {
		t.Fatalf("%d topics cached, bound %d", len(sc.topics), maxCachedTopics)
	}
	d, f, ok := sc.match(tt, "plant/s1/pump-7/telemetry")
	d2, f2, ok2 := sc.match(tt, "plant/s1/pump-7/telemetry")
	if !ok || !ok2 || d != "pump-7" || d2 != d || f["site"] != "s1" || f2["site"] != "s1" {
		t.Fatalf("cached match %q %v / %q %v", d, f, d2, f2)
	}
	if _, _, ok := sc.match(tt, "other/x"); ok {
		t.Fatal("cached a wrong match")
	}
	// Long names and topics are not kept (the bounds are by length too).
	clear(sc.names)
	clear(sc.topics)
	sc.intern(bytes.Repeat([]byte("n"), maxInternedLen+1))
	long := "plant/s/" + strings.Repeat("d", maxCachedTopic) + "/telemetry"
	if _, _, ok := sc.match(tt, long); !ok {
		t.Fatal("no match for a long topic")
	}
	if len(sc.names) != 0 || len(sc.topics) != 0 {
		t.Fatalf("kept %d long names, %d long topics", len(sc.names), len(sc.topics))
	}
}
