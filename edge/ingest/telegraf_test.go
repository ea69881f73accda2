package ingest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func newTelegrafTest(t testing.TB, m *TelegrafMapping, cfg ValidationConfig) Decoder {
	t.Helper()
	return newMappedTest(t, Subscription{Topic: "telegraf/{device}/{plugin}", Format: FormatTelegraf, Telegraf: m}, cfg)
}

func TestTelegrafSingle(t *testing.T) {
	d := newTelegrafTest(t, nil, ValidationConfig{})
	rs, err := decodeAt(d, `{"fields":{"usage_idle":91.5,"up":true,"state":"ok"},"name":"cpu","tags":{"cpu":"cpu-total","host":"pump-7"},"timestamp":1780000000}`)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if len(rs) != 1 || r.Device != "pump-7" || !r.Time.Equal(time.Unix(1780000000, 0)) ||
		r.Values["cpu_usage_idle"] != 91.5 || r.Values["cpu_up"] != 1 || len(r.Values) != 2 || r.Fields["cpu"] != "" {
		t.Fatalf("got %+v", rs)
	}
}

func TestTelegrafBatchMergesAndLabels(t *testing.T) {
	prefix := false
	d := newTelegrafTest(t, &TelegrafMapping{DeviceTag: "machine", TimestampUnit: UnitMillis, MeasurementPrefix: &prefix, Labels: []string{"cpu"}}, ValidationConfig{})
	rs, err := decodeAt(d, `{"metrics":[
		{"fields":{"a":1},"name":"m1","tags":{"machine":"p1"},"timestamp":1780000000000},
		{"fields":{"b":2},"name":"m2","tags":{"machine":"p1"},"timestamp":1780000000000},
		{"fields":{"a":3},"name":"m1","tags":{"machine":"p1"},"timestamp":1780000000000},
		{"fields":{"a":4},"name":"m1","tags":{"machine":"p2"},"timestamp":1780000000000},
		{"fields":{"idle":5},"name":"cpu","tags":{"machine":"p2","cpu":"cpu0"},"timestamp":1780000001000},
		{"fields":{"idle":6},"name":"cpu","tags":{"cpu":"cpu1"},"timestamp":1780000001000}]}`)
	if err != nil {
		t.Fatal(err)
	}
	// p1 {a,b} merged; p1 {a} again collides; p2; p2 with a cpu label;
	// the last has no device tag: the topic's device.
	if len(rs) != 5 {
		t.Fatalf("%d readings: %+v", len(rs), rs)
	}
	if rs[0].Values["a"] != 1 || rs[0].Values["b"] != 2 || rs[1].Values["a"] != 3 || rs[2].Device != "p2" ||
		rs[3].Fields["cpu"] != "cpu0" || rs[4].Device != "topic-dev" || rs[4].Fields["cpu"] != "cpu1" {
		t.Fatalf("got %+v", rs)
	}
	if rs[3].Fields["plugin"] != "" || rs[3].Fields["line"] != "l1" {
		t.Errorf("fields %v: topic captures lost", rs[3].Fields)
	}
}

func TestTelegrafBad(t *testing.T) {
	cases := []struct {
		name    string
		cfg     ValidationConfig
		payload string
		reason  string
		detail  string
	}{
		{"not object", ValidationConfig{}, `[1]`, ReasonMalformed, "want {"},
		{"mixed batch", ValidationConfig{}, `{"metrics":[{"fields":{"a":1},"name":"x"}],"name":"y"}`, ReasonMalformed, `only "metrics"`},
		{"empty batch", ValidationConfig{}, `{"metrics":[]}`, ReasonMissing, "empty batch"},
		{"no fields", ValidationConfig{}, `{"name":"x","fields":{"s":"str"}}`, ReasonMissing, `metric "x" has no numeric`},
		{"field object", ValidationConfig{}, `{"name":"x","fields":{"a":{}}}`, ReasonWrongType, `"fields.a"`},
		{"tag number", ValidationConfig{}, `{"name":"x","fields":{"a":1},"tags":{"host":1}}`, ReasonWrongType, `"tags.host"`},
		{"bad device", ValidationConfig{}, `{"name":"x","fields":{"a":1},"tags":{"host":"a/b"}}`, ReasonBadDevice, `"tags.host"`},
		{"dup key", ValidationConfig{}, `{"name":"x","name":"y","fields":{"a":1}}`, ReasonMalformed, `duplicate key "name"`},
		{"dup field", ValidationConfig{}, `{"name":"x","fields":{"a":1,"a":2}}`, ReasonMalformed, `duplicate field "fields.a"`},
		{"skew hint", ValidationConfig{}, `{"name":"x","fields":{"a":1},"timestamp":1780000000000}`, ReasonBadTimestamp, "unit s"},
		{"old", ValidationConfig{}, `{"name":"x","fields":{"a":1},"timestamp":1}`, ReasonClockSkew, "telegraf.timestamp_unit: s"},
		{"batch member", ValidationConfig{}, `{"metrics":[{"name":"x","fields":{"a":1}},{"name":"x","fields":{"a":null}}]}`, ReasonWrongType, "metrics[1]: "},
		{"batch limit", ValidationConfig{MaxBatch: 1}, `{"metrics":[{"name":"x","fields":{"a":1}},{"name":"x","fields":{"a":2}}]}`, ReasonTooLarge, "limit 1"},
		{"range", ValidationConfig{Ranges: map[string]Range{"x_a": {0, 1}}}, `{"name":"x","fields":{"a":2}}`, ReasonOutOfRange, "x_a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := decodeAt(newTelegrafTest(t, nil, c.cfg), c.payload)
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v %v, want an InvalidError", rs, err)
			}
			if ie.Reason != c.reason || !strings.Contains(ie.Detail, c.detail) {
				t.Errorf("got %s, want %s containing %q", ie, c.reason, c.detail)
			}
		})
	}
}
