package ingest

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
)

func f32Base64(samples []float32) string {
	b := make([]byte, 4*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(s))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// A 25.6 kHz one-second capture fits the default limits as base64 float32.
func TestWaveformF32LEOneSecond(t *testing.T) {
	samples := make([]float32, 25600)
	for i := range samples {
		samples[i] = float32(math.Sin(float64(i) / 10))
	}
	payload := fmt.Sprintf(`{"ts":1780000000000,"waveform":{"channel":"vib","rate_hz":25600,"samples_f32le":%q}}`, f32Base64(samples))
	if len(payload) > DefaultMaxPayloadBytes {
		t.Fatalf("payload %d bytes over the default limit", len(payload))
	}
	rs, err := newTestDecoder(t, ValidationConfig{}).Decode("d", nil, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	w := rs[0].Waveform
	if w == nil || len(w.Samples) != 25600 || w.Samples[7] != float64(samples[7]) || w.RateHz != 25600 {
		t.Fatalf("got %+v", w)
	}
}

func TestWaveformF32LEBad(t *testing.T) {
	d := newTestDecoder(t, ValidationConfig{MaxWaveformSamples: 2})
	nan := f32Base64([]float32{float32(math.NaN())})
	for payload, want := range map[string]string{
		`{"waveform":{"channel":"v","rate_hz":1,"samples_f32le":"AAAA"}}`:                   "not a multiple of 4",
		`{"waveform":{"channel":"v","rate_hz":1,"samples_f32le":"!!"}}`:                     "malformed_json",
		`{"waveform":{"channel":"v","rate_hz":1,"samples_f32le":"` + nan + `"}}`:            "non_finite",
		`{"waveform":{"channel":"v","rate_hz":1,"samples_f32le":"AAAAAAAAAAAAAAAA"}}`:       "3 samples, limit 2",
		`{"waveform":{"channel":"v","rate_hz":1,"samples":[1],"samples_f32le":"AAAAAA=="}}`: "exclusive",
		`{"waveform":{"channel":"v","rate_hz":1,"samples_f32le":1}}`:                        "wrong_type",
	} {
		_, err := d.Decode("d", nil, []byte(payload))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", payload, err, want)
		}
	}
}

func TestRawWaveform(t *testing.T) {
	d := newMappedTest(t, Subscription{Topic: "vib/{device}/{channel}", Format: FormatWaveformF32LE,
		Waveform: &WaveformMapping{RateHz: 25600}}, ValidationConfig{})
	b, _ := base64.StdEncoding.DecodeString(f32Base64([]float32{0.5, -1.25, 3}))
	rs, err := d.Decode(nil, Source{Device: "pump-1", Fields: map[string]string{"channel": "axial"}, Received: testNow}, b)
	if err != nil {
		t.Fatal(err)
	}
	w := rs[0].Waveform
	if len(rs) != 1 || rs[0].Device != "pump-1" || !rs[0].Time.Equal(testNow) || w.Channel != "axial" || w.RateHz != 25600 ||
		len(w.Samples) != 3 || w.Samples[1] != -1.25 {
		t.Fatalf("got %+v %+v", rs, w)
	}
	for payload, want := range map[string]string{"abc": "not a multiple of 4", "": "no samples",
		string(b[:4]) + "\x00\x00\xc0\x7f": "non_finite"} {
		if _, err := d.Decode(nil, Source{Device: "p", Fields: map[string]string{"channel": "a"}, Received: testNow}, []byte(payload)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", payload, err, want)
		}
	}
}

func TestRawWaveformMapping(t *testing.T) {
	for _, c := range []struct {
		sub  Subscription
		want string
	}{
		{Subscription{Topic: "vib/{device}", Format: FormatWaveformF32LE, Waveform: &WaveformMapping{RateHz: 1}}, "mqtt.subscriptions[0].waveform.channel: required"},
		{Subscription{Topic: "vib/{device}", Format: FormatWaveformF32LE, Waveform: &WaveformMapping{Channel: "x"}}, "mqtt.subscriptions[0].waveform.rate_hz: must be > 0"},
		{Subscription{Topic: "vib/{device}/{channel}", Format: FormatWaveformF32LE}, "waveform.rate_hz: must be > 0"},
		{Subscription{Topic: "vib/{device}", Format: FormatFlat, Waveform: &WaveformMapping{}}, "mqtt.subscriptions[0].waveform: only for format waveform_f32le"},
	} {
		cfg := MQTTConfig{Subscriptions: []Subscription{c.sub}}
		cfg.SetDefaults("gw")
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.sub, err, c.want)
		}
	}
}
