package ingest

import (
	"errors"
	"strings"
	"testing"
)

// TestNullNeverZero: a JSON null where a number belongs is dead-lettered
// as wrong_type, naming the field, in a single reading, a batch member and
// a waveform sample (encoding/json alone stores 0 for it).
func TestNullNeverZero(t *testing.T) {
	d := newTestDecoder(t, ValidationConfig{})
	cases := []struct{ payload, path string }{
		{`{"values":{"vibration_rms":null}}`, `"values.vibration_rms"`},
		{`{"values":{"a":1,"vibration_rms":null}}`, `"values.vibration_rms"`},
		{`{"readings":[{"values":{"a":1}},{"values":{"a":null}}]}`, `"readings[1].values.a"`},
		{`{"waveform":{"channel":"v","rate_hz":10,"samples":[0.5,null]}}`, `"waveform.samples[1]"`},
		{`{"readings":[{"waveform":{"channel":"v","rate_hz":10,"samples":[null]}}]}`, `"readings[0].waveform.samples[0]"`},
	}
	for _, c := range cases {
		rs, err := d.Decode("pump-1", nil, []byte(c.payload))
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Reason != ReasonWrongType || !strings.Contains(ie.Detail, c.path) {
			t.Errorf("%s: got %v, %v; want wrong_type naming %s", c.payload, rs, err, c.path)
		}
	}
}

// TestNullSkip: with validation.null_values: skip, a null sensor is left
// out of its reading (never 0); a reading left empty, and a null sample,
// are still rejected.
func TestNullSkip(t *testing.T) {
	d := newTestDecoder(t, ValidationConfig{NullValues: NullSkip})
	rs, err := d.Decode("pump-1", nil, []byte(`{"readings":[{"values":{"a":1,"b":null}},{"values":{"b":null,"a":2}}]}`))
	if err != nil || len(rs) != 2 {
		t.Fatalf("got %v, %v", rs, err)
	}
	for i, r := range rs {
		if _, ok := r.Values["b"]; ok || r.Values["a"] != float64(i+1) {
			t.Errorf("reading %d: values %v, want only a=%d", i, r.Values, i+1)
		}
	}
	for payload, reason := range map[string]string{
		`{"values":{"b":null}}`: ReasonMissing,
		`{"waveform":{"channel":"v","rate_hz":10,"samples":[null]}}`: ReasonWrongType,
	} {
		_, err := d.Decode("pump-1", nil, []byte(payload))
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Reason != reason {
			t.Errorf("%s: got %v, want %s", payload, err, reason)
		}
	}
	cfg := ValidationConfig{NullValues: "zero"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "validation.null_values") {
		t.Errorf("null_values: zero: got %v", err)
	}
}

// TestStrictness: invalid UTF-8, repeated keys and over-long sensor names
// are rejected, and type errors name the full field path.
func TestStrictness(t *testing.T) {
	d := newTestDecoder(t, ValidationConfig{})
	cases := []struct{ name, payload, reason, detail string }{
		{"utf8 in key", "{\"values\":{\"t\xff\":1}}", ReasonMalformed, "UTF-8"},
		{"utf8 in string", "{\"ts\":\"2026\xc0\",\"values\":{\"t\":1}}", ReasonMalformed, "UTF-8"},
		{"dup sensor", `{"values":{"t":1,"t":2}}`, ReasonMalformed, `duplicate key "t"`},
		{"dup escaped", `{"values":{"t":1,"\u0074":2}}`, ReasonMalformed, `duplicate key "t"`},
		{"dup top", `{"values":{"t":1},"values":{"t":2}}`, ReasonMalformed, `duplicate key "values"`},
		{"dup case", `{"values":{"t":1},"Values":{"t":2}}`, ReasonMalformed, `duplicate key "Values"`},
		{"dup in member", `{"readings":[{"ts":1,"ts":2,"values":{"t":1}}]}`, ReasonMalformed, `duplicate key "ts"`},
		{"dup in ignored", `{"diag":{"x":1,"x":2},"values":{"t":1}}`, ReasonMalformed, `duplicate key "x"`},
		{"long name", `{"values":{"` + strings.Repeat("s", MaxSensorName+1) + `":1}}`, ReasonTooLarge, "sensor name of 129 bytes"},
		{"wrong type path", `{"values":{"temp":"hot"}}`, ReasonWrongType, `field "values.temp": got JSON string, want float64`},
		{"member path", `{"readings":[{"values":{"a":1}},{"values":{"temp":true}}]}`, ReasonWrongType, `"readings[1].values.temp"`},
		{"sample path", `{"waveform":{"channel":"v","rate_hz":1,"samples":[1,[2]]}}`, ReasonWrongType, `"waveform.samples[1]"`},
	}
	for _, c := range cases {
		_, err := d.Decode("pump-1", nil, []byte(c.payload))
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Reason != c.reason || !strings.Contains(ie.Detail, c.detail) {
			t.Errorf("%s: got %v; want %s containing %q", c.name, err, c.reason, c.detail)
		}
	}
	ok := `{"values":{"` + strings.Repeat("s", MaxSensorName) + `":1},"diag":{"x":1,"y":[{"x":1},{"x":2}]}}`
	if _, err := d.Decode("pump-1", nil, []byte(ok)); err != nil {
		t.Errorf("a valid payload was rejected: %v", err)
	}
}

func TestCheckDevice(t *testing.T) {
	for _, ok := range []string{"pump-0003", "a", "Line_2.pump:7@s", strings.Repeat("d", MaxDeviceID)} {
		if err := checkDevice(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("d", MaxDeviceID+1), "pump 1", "pümp", "a\"b", "a\x00"} {
		var ie *InvalidError
		if err := checkDevice(bad); !errors.As(err, &ie) || ie.Reason != ReasonBadTopic {
			t.Errorf("%q: got %v, want bad_topic", bad, err)
		}
	}
}
