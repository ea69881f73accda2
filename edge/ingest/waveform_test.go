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
