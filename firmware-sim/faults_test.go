package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func sampleReading() Reading {
	return Reading{Device: "pump-0003", Class: ClassPump, Time: time.UnixMilli(1732233600123), Seq: 42,
		Values: map[string]float64{SensorVibrationRMS: 2.31, SensorBearingTemp: 61.2, SensorCurrent: 40.5, SensorSpeed: 2950}}
}

type payloadV1 struct {
	TS     *int64             `json:"ts"`
	Seq    *uint64            `json:"seq"`
	Values map[string]float64 `json:"values"`
}

func decodeStrict(p []byte) (payloadV1, error) {
	var v payloadV1
	d := json.NewDecoder(bytes.NewReader(p))
	d.DisallowUnknownFields()
	err := d.Decode(&v)
	return v, err
}

func TestEncodePayload(t *testing.T) {
	got := string(EncodePayload(sampleReading()))
	want := `{"ts":1732233600123,"seq":42,"values":{"bearing_temp_c":61.2,"current_a":40.5,"speed_rpm":2950,"vibration_rms":2.31}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	r := sampleReading()
	r.Values = map[string]float64{"a": math.NaN(), "b": math.Inf(1), "c": 1e-9, "d": 1e22, "e\"\n": -0.5}
	r.Time, r.Seq = time.Time{}, 0
	got = string(EncodePayload(r))
	want = `{"values":{"a":null,"b":null,"c":1e-09,"d":1e+22,"e\"\n":-0.5}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var anyv map[string]any
	if err := json.Unmarshal([]byte(got), &anyv); err != nil {
		t.Fatal(err)
	}
	b := string(EncodeBatch([]Reading{sampleReading(), sampleReading()}))
	if !strings.HasPrefix(b, `{"readings":[{"ts":1732233600123,`) || !json.Valid([]byte(b)) {
		t.Fatalf("batch %s", b)
	}
}

// Every value that a plant produces survives encode/decode exactly.
func TestEncodePayloadRoundTrip(t *testing.T) {
	p, _ := NewPlant(Config{Seed: 5, Machines: 8, Classes: Classes()})
	for range 200 {
		for _, r := range p.Step(time.Minute) {
			v, err := decodeStrict(EncodePayload(r))
			if err != nil {
				t.Fatal(err)
			}
			if *v.TS != r.Time.UnixMilli() || *v.Seq != r.Seq || len(v.Values) != len(r.Values) {
				t.Fatalf("decoded %+v from %+v", v, r)
			}
			for k, x := range r.Values {
				if v.Values[k] != x {
					t.Fatalf("%s: %v != %v", k, v.Values[k], x)
				}
			}
		}
	}
}

// Each payload fault produces what it claims, in every variant.
func TestFaultPayloads(t *testing.T) {
	r := sampleReading()
	ts := r.Time.UnixMilli()
	for v := range FaultVariants(FaultMalformed) {
		p := FaultPayloadVariant(FaultMalformed, v, r)
		if json.Valid(p) {
			t.Errorf("malformed %d is valid JSON: %s", v, p)
		}
	}
	for v := range FaultVariants(FaultWrongType) {
		p := FaultPayloadVariant(FaultWrongType, v, r)
		if !json.Valid(p) {
			t.Errorf("wrong_type %d is not JSON: %s", v, p)
		}
		if _, err := decodeStrict(p); err == nil {
			t.Errorf("wrong_type %d decodes into the v1 struct: %s", v, p)
		}
	}
	for v := range FaultVariants(FaultNaN) {
		p := FaultPayloadVariant(FaultNaN, v, r)
		dec, err := decodeStrict(p)
		if v < 4 && err == nil {
			t.Errorf("nan %d decodes: %s", v, p)
		}
		if v == 4 && (err != nil || dec.Values[SensorVibrationRMS] != math.MaxFloat64) {
			t.Errorf("nan 4 (max float): %v %s", err, p)
		}
		if !strings.Contains(string(p), `"vibration_rms":`+[]string{"NaN", "Infinity", "-Infinity", "1e999", "1.7976931348623157e308"}[v]) {
			t.Errorf("nan %d: %s", v, p)
		}
	}
	for v := range FaultVariants(FaultMissing) {
		p := FaultPayloadVariant(FaultMissing, v, r)
		dec, err := decodeStrict(p)
		if err != nil {
			t.Errorf("missing %d: %v", v, err)
		}
		if _, ok := dec.Values[SensorVibrationRMS]; ok {
			t.Errorf("missing %d has vibration_rms: %s", v, p)
		}
	}
	for v := range FaultVariants(FaultOversized) {
		p := FaultPayloadVariant(FaultOversized, v, r)
		if len(p) < DefaultOversizeBytes || len(p) > DefaultOversizeBytes+64*1024 || !json.Valid(p) {
			t.Errorf("oversized %d: %d bytes, valid %v", v, len(p), json.Valid(p))
		}
	}
	wantTS := []int64{ts + 86400000, ts - 30*86400000, 0, ts / 1000, ts * 1000}
	for v := range FaultVariants(FaultSkew) {
		p := FaultPayloadVariant(FaultSkew, v, r)
		dec, err := decodeStrict(p)
		if err != nil || *dec.TS != wantTS[v] || dec.Values[SensorVibrationRMS] != 2.31 {
			t.Errorf("skew %d: %v %s", v, err, p)
		}
	}
	for _, k := range []FaultKind{FaultDuplicate, FaultOutOfOrder, FaultStuck, FaultDisconnect, FaultBurst} {
		if !bytes.Equal(FaultPayload(k, r), EncodePayload(r)) {
			t.Errorf("%v payload differs", k)
		}
	}
}

func TestFaultStream(t *testing.T) {
	p, _ := NewPlant(Config{Seed: 1, Machines: 1})
	var rs []Reading
	for range 5 {
		rs = append(rs, p.Step(time.Second)...)
	}
	plain := FaultStream(FaultBurst, rs)
	dup := FaultStream(FaultDuplicate, rs)
	if len(dup) != 6 || !bytes.Equal(dup[0], dup[1]) || !bytes.Equal(dup[2], plain[1]) {
		t.Errorf("duplicate: %q", dup)
	}
	ooo := FaultStream(FaultOutOfOrder, rs)
	if !bytes.Equal(ooo[0], plain[1]) || !bytes.Equal(ooo[1], plain[0]) {
		t.Errorf("out_of_order: %q", ooo)
	}
	stuck := FaultStream(FaultStuck, rs)
	for i, s := range stuck {
		d, _ := decodeStrict(s)
		if d.Values[SensorVibrationRMS] != rs[0].Values[SensorVibrationRMS] || *d.Seq != rs[i].Seq {
			t.Errorf("stuck %d: %s", i, s)
		}
	}
	nan := FaultStream(FaultNaN, rs)
	if json.Valid(nan[0]) || !bytes.Equal(nan[1], plain[1]) {
		t.Errorf("nan stream: %q", nan[:2])
	}
}

func TestParseFaultKind(t *testing.T) {
	for _, k := range FaultKinds() {
		got, err := ParseFaultKind(strings.ReplaceAll(k.String(), "_", "-"))
		if err != nil || got != k {
			t.Errorf("%v: %v %v", k, got, err)
		}
	}
	if _, err := ParseFaultKind("bogus"); err == nil {
		t.Error("bogus parsed")
	}
}
