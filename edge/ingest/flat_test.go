package ingest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func newFlatTest(t testing.TB, m *FlatMapping, cfg ValidationConfig) Decoder {
	t.Helper()
	return newMappedTest(t, Subscription{Topic: "plant/{line}/{device}", Format: FormatFlat, Flat: m}, cfg)
}

// newMappedTest is the decoder of subscription s, its mapping validated.
func newMappedTest(t testing.TB, s Subscription, cfg ValidationConfig) Decoder {
	t.Helper()
	tt, err := ParseTopicTemplate(s.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.validateMapping(0, tt); err != nil {
		t.Fatal(err)
	}
	d, err := NewSubscriptionDecoder(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func decodeAt(d Decoder, payload string) ([]Reading, error) {
	return d.Decode(nil, Source{Device: "topic-dev", Fields: map[string]string{"line": "l1"}, Received: testNow}, []byte(payload))
}

func TestFlatIssueExample(t *testing.T) {
	d := newFlatTest(t, &FlatMapping{DeviceField: "device", TimestampUnit: UnitSeconds}, ValidationConfig{})
	rs, err := decodeAt(d, `{"device":"pump-7","ts":1780000000,"temp":61.2,"running":true,"stopped":false,"mode":"auto"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d readings", len(rs))
	}
	r := rs[0]
	want := map[string]float64{"temp": 61.2, "running": 1, "stopped": 0}
	if r.Device != "pump-7" || !r.Time.Equal(time.Unix(1780000000, 0)) || len(r.Values) != len(want) || r.Fields["line"] != "l1" {
		t.Fatalf("got %+v", r)
	}
	for k, v := range want {
		if got, ok := r.Values[k]; !ok || got != v {
			t.Errorf("values[%s] = %v %v, want %v", k, got, ok, v)
		}
	}
}

func TestFlatMapping(t *testing.T) {
	cases := []struct {
		name    string
		m       FlatMapping
		payload string
		check   func(t *testing.T, r Reading)
	}{
		{"topic device, ms default", FlatMapping{}, `{"ts":1780000000123,"a":1}`, func(t *testing.T, r Reading) {
			if r.Device != "topic-dev" || !r.Time.Equal(time.UnixMilli(1780000000123)) {
				t.Errorf("device %q time %s", r.Device, r.Time)
			}
		}},
		{"device field absent: topic", FlatMapping{DeviceField: "dev"}, `{"a":1}`, func(t *testing.T, r Reading) {
			if r.Device != "topic-dev" || !r.Time.Equal(testNow) {
				t.Errorf("device %q time %s", r.Device, r.Time)
			}
		}},
		{"nested flattened", FlatMapping{Separator: "_"}, `{"motor":{"temp":5,"x":{"y":2}},"z":3}`, func(t *testing.T, r Reading) {
			if r.Values["motor_temp"] != 5 || r.Values["motor_x_y"] != 2 || r.Values["z"] != 3 || len(r.Values) != 3 {
				t.Errorf("values %v", r.Values)
			}
		}},
		{"include", FlatMapping{Include: []string{"a", "m.b"}}, `{"a":1,"b":2,"m":{"b":3},"s":"x"}`, func(t *testing.T, r Reading) {
			if r.Values["a"] != 1 || r.Values["m.b"] != 3 || len(r.Values) != 2 {
				t.Errorf("values %v", r.Values)
			}
		}},
		{"exclude", FlatMapping{Exclude: []string{"rssi"}}, `{"a":1,"rssi":-70}`, func(t *testing.T, r Reading) {
			if len(r.Values) != 1 {
				t.Errorf("values %v", r.Values)
			}
		}},
		{"labels", FlatMapping{Labels: []string{"mode", "fw.ver"}}, `{"a":1,"mode":"auto","fw":{"ver":"1.2"},"other":"x"}`, func(t *testing.T, r Reading) {
			if r.Fields["mode"] != "auto" || r.Fields["fw.ver"] != "1.2" || r.Fields["line"] != "l1" || len(r.Fields) != 3 {
				t.Errorf("fields %v", r.Fields)
			}
		}},
		{"seq and us", FlatMapping{SeqField: "n", TimestampUnit: UnitMicros, TimestampField: "t"}, `{"t":1780000000000001,"n":9,"a":1}`, func(t *testing.T, r Reading) {
			if r.DeviceSeq != 9 || !r.Time.Equal(time.UnixMicro(1780000000000001)) || len(r.Values) != 1 {
				t.Errorf("%+v", r)
			}
		}},
		{"ns", FlatMapping{TimestampUnit: UnitNanos}, `{"ts":1780000000000000007,"a":1}`, func(t *testing.T, r Reading) {
			if !r.Time.Equal(time.Unix(0, 1780000000000000007)) {
				t.Errorf("time %s", r.Time)
			}
		}},
		{"fractional seconds", FlatMapping{TimestampUnit: UnitSeconds}, `{"ts":1780000000.25,"a":1}`, func(t *testing.T, r Reading) {
			if !r.Time.Equal(time.Unix(1780000000, 25e7)) {
				t.Errorf("time %s", r.Time)
			}
		}},
		{"rfc3339", FlatMapping{TimestampUnit: UnitRFC3339}, `{"ts":"2026-05-28T20:26:40Z","a":1}`, func(t *testing.T, r Reading) {
			if !r.Time.Equal(time.Date(2026, 5, 28, 20, 26, 40, 0, time.UTC)) {
				t.Errorf("time %s", r.Time)
			}
		}},
		{"none: receive time, ts not a value", FlatMapping{TimestampUnit: UnitNone}, `{"ts":5,"a":1}`, func(t *testing.T, r Reading) {
			if !r.Time.Equal(testNow) || len(r.Values) != 1 {
				t.Errorf("%+v", r)
			}
		}},
		{"escaped key, arrays ignored", FlatMapping{}, `{"a\u0062":1,"arr":[1,{"x":2}]}`, func(t *testing.T, r Reading) {
			if r.Values["ab"] != 1 || len(r.Values) != 1 {
				t.Errorf("values %v", r.Values)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := decodeAt(newFlatTest(t, &c.m, ValidationConfig{}), c.payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 {
				t.Fatalf("%d readings", len(rs))
			}
			c.check(t, rs[0])
		})
	}
}

func TestFlatBatch(t *testing.T) {
	d := newFlatTest(t, &FlatMapping{DeviceField: "device"}, ValidationConfig{})
	rs, err := decodeAt(d, `[{"device":"a","v":1},{"device":"b","v":2},{"v":3}]`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Device != "a" || rs[1].Device != "b" || rs[2].Device != "topic-dev" || rs[1].Values["v"] != 2 {
		t.Fatalf("got %+v", rs)
	}
}

func TestFlatBad(t *testing.T) {
	cases := []struct {
		name    string
		m       FlatMapping
		cfg     ValidationConfig
		payload string
		reason  string
		detail  string
	}{
		{"not json", FlatMapping{}, ValidationConfig{}, `{"a":1`, ReasonMalformed, "unexpected end"},
		{"trailing", FlatMapping{}, ValidationConfig{}, `{"a":1} x`, ReasonMalformed, "want the end"},
		{"scalar payload", FlatMapping{}, ValidationConfig{}, `5`, ReasonMalformed, "want a JSON object"},
		{"bad utf8", FlatMapping{}, ValidationConfig{}, "{\"a\xff\":1}", ReasonMalformed, "UTF-8"},
		{"duplicate", FlatMapping{}, ValidationConfig{}, `{"a":1,"a":2}`, ReasonMalformed, `duplicate field "a"`},
		{"duplicate by flattening", FlatMapping{}, ValidationConfig{}, `{"m.a":1,"m":{"a":2}}`, ReasonMalformed, `duplicate field "m.a"`},
		{"no values", FlatMapping{}, ValidationConfig{}, `{"s":"x"}`, ReasonMissing, "no numeric"},
		{"null rejected", FlatMapping{}, ValidationConfig{}, `{"a":null,"b":1}`, ReasonWrongType, `field "a": got JSON null`},
		{"include string", FlatMapping{Include: []string{"a"}}, ValidationConfig{}, `{"a":"x"}`, ReasonWrongType, `field "a"`},
		{"include array", FlatMapping{Include: []string{"a"}}, ValidationConfig{}, `{"a":[1]}`, ReasonWrongType, `field "a": got JSON array`},
		{"overflow", FlatMapping{}, ValidationConfig{}, `{"a":1e999}`, ReasonNonFinite, `field "a"`},
		{"range", FlatMapping{}, ValidationConfig{Ranges: map[string]Range{"a": {0, 1}}}, `{"a":5}`, ReasonOutOfRange, "values.a"},
		{"skew with hint", FlatMapping{}, ValidationConfig{}, `{"ts":1780000000,"a":1}`, ReasonClockSkew, "flat.timestamp_unit: ms"},
		{"bad ts string", FlatMapping{}, ValidationConfig{}, `{"ts":"yesterday","a":1}`, ReasonBadTimestamp, `"yesterday"`},
		{"ts number for rfc3339", FlatMapping{TimestampUnit: UnitRFC3339}, ValidationConfig{}, `{"ts":5,"a":1}`, ReasonBadTimestamp, "want an RFC 3339"},
		{"ts huge", FlatMapping{TimestampUnit: UnitSeconds}, ValidationConfig{}, `{"ts":1e300,"a":1}`, ReasonBadTimestamp, "unit s"},
		{"ts bool", FlatMapping{}, ValidationConfig{}, `{"ts":true,"a":1}`, ReasonBadTimestamp, "bool"},
		{"bad payload device", FlatMapping{DeviceField: "d"}, ValidationConfig{}, `{"d":"a b","a":1}`, ReasonBadDevice, `field "d"`},
		{"device not string", FlatMapping{DeviceField: "d"}, ValidationConfig{}, `{"d":7,"a":1}`, ReasonWrongType, "device id string"},
		{"device list", FlatMapping{DeviceField: "d"}, ValidationConfig{Devices: []string{"pump-*"}, UnknownDevice: UnknownDeviceReject}, `{"d":"fan-1","a":1}`, ReasonUnknownDevice, `"fan-1"`},
		{"seq negative", FlatMapping{SeqField: "n"}, ValidationConfig{}, `{"n":-1,"a":1}`, ReasonWrongType, "unsigned"},
		{"batch member", FlatMapping{}, ValidationConfig{}, `[{"a":1},{"a":"x","b":null}]`, ReasonWrongType, `[1]: field "b"`},
		{"batch scalar", FlatMapping{}, ValidationConfig{}, `[{"a":1},2]`, ReasonMalformed, "[1]: a batch member"},
		{"batch empty", FlatMapping{}, ValidationConfig{}, `[]`, ReasonMissing, "empty batch"},
		{"batch too big", FlatMapping{}, ValidationConfig{MaxBatch: 2}, `[{"a":1},{"a":1},{"a":1}]`, ReasonTooLarge, "limit 2"},
		{"too deep", FlatMapping{}, ValidationConfig{}, strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), ReasonMalformed, "nested deeper"},
		{"long label", FlatMapping{Labels: []string{"l"}}, ValidationConfig{}, `{"a":1,"l":"` + strings.Repeat("x", 300) + `"}`, ReasonTooLarge, "label"},
		{"trailing comma", FlatMapping{}, ValidationConfig{}, `{"a":1,}`, ReasonMalformed, "want a string"},
		{"bad escape", FlatMapping{}, ValidationConfig{}, `{"a\q":1}`, ReasonMalformed, "bad escape"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := decodeAt(newFlatTest(t, &c.m, c.cfg), c.payload)
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v %v, want an InvalidError", rs, err)
			}
			if ie.Reason != c.reason || !strings.Contains(ie.Detail, c.detail) {
				t.Errorf("got %s, want %s containing %q", ie, c.reason, c.detail)
			}
			if rs != nil {
				t.Errorf("readings %v returned with the error", rs)
			}
		})
	}
}

func TestFlatNullSkip(t *testing.T) {
	d := newFlatTest(t, &FlatMapping{}, ValidationConfig{NullValues: NullSkip})
	rs, err := decodeAt(d, `{"a":null,"b":1}`)
	if err != nil || len(rs[0].Values) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
}

func TestFlatMappingValidation(t *testing.T) {
	cases := []struct {
		sub  Subscription
		want string
	}{
		{Subscription{Format: FormatFlat, Flat: &FlatMapping{TimestampUnit: "min"}}, `mqtt.subscriptions[0].flat.timestamp_unit: must be one of [s ms us ns rfc3339 none], got "min"`},
		{Subscription{Format: FormatFlat, Flat: &FlatMapping{Include: []string{"a"}, Exclude: []string{"b"}}}, "mqtt.subscriptions[0].flat: include and exclude are exclusive"},
		{Subscription{Format: FormatFlat, Flat: &FlatMapping{Labels: []string{"line"}}}, `mqtt.subscriptions[0].flat.labels[0]: "line" is a level of the topic template`},
		{Subscription{Format: FormatFlat, Flat: &FlatMapping{Include: []string{"ts"}}}, `mqtt.subscriptions[0].flat.include[0]: "ts" is the device, timestamp or seq field`},
		{Subscription{Format: FormatFlat, Flat: &FlatMapping{Include: []string{"a"}, Labels: []string{"a"}}}, `mqtt.subscriptions[0].flat.include: "a" is also a label`},
		{Subscription{Format: FormatEdgepm, Flat: &FlatMapping{}}, `mqtt.subscriptions[0].flat: only for format flat, but format is "edgepm"`},
		{Subscription{Format: FormatFlat, Telegraf: &TelegrafMapping{}}, `mqtt.subscriptions[0].telegraf: only for format telegraf`},
		{Subscription{Format: FormatTelegraf, Telegraf: &TelegrafMapping{TimestampUnit: "1s"}}, `mqtt.subscriptions[0].telegraf.timestamp_unit: must be one of`},
		{Subscription{Format: FormatTelegraf, Telegraf: &TelegrafMapping{Labels: []string{"cpu", "cpu"}}}, `mqtt.subscriptions[0].telegraf.labels[1]: "cpu" listed twice`},
	}
	for _, c := range cases {
		c.sub.Topic = "plant/{line}/{device}"
		cfg := MQTTConfig{Subscriptions: []Subscription{c.sub}}
		cfg.SetDefaults("gw")
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.sub, err, c.want)
		}
	}
}

// In the Pipeline (with a scratch), the flat decoder also writes the values
// as JSON for the record, unless a name would need escaping.
func TestFlatValuesJSON(t *testing.T) {
	d := newFlatTest(t, &FlatMapping{Separator: "/"}, ValidationConfig{NullValues: NullSkip})
	sc := newScratch()
	rs, err := d.Decode(nil, Source{Device: "d", Received: testNow, sc: sc},
		[]byte(`[{"a":1.50,"b":true,"n":null,"m":{"x":-2e3}},{"q\"":1},{"c":false}]`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`{"a":1.50,"b":1,"m/x":-2e3}`, "", `{"c":0}`} {
		if got := string(rs[i].ValuesJSON); got != want {
			t.Errorf("reading %d: ValuesJSON %q, want %q", i, got, want)
		}
		checkValuesJSON(t, rs[i])
	}
}
