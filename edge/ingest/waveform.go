package ingest

import (
	"encoding/binary"
	"math"
)

// wireWaveform is a payload's "waveform" object: samples as JSON numbers,
// or as float32 little-endian bytes in base64 (samples_f32le; standard
// alphabet, padded), which is 5.3 bytes a sample instead of up to 25.
type wireWaveform struct {
	Channel      string    `json:"channel"`
	RateHz       float64   `json:"rate_hz"`
	Samples      []float64 `json:"samples"`
	SamplesF32LE []byte    `json:"samples_f32le"`
}

// waveform returns w as a Waveform, decoding samples_f32le; max is
// validation.max_waveform_samples (checked before the samples are made).
func (w *wireWaveform) waveform(max int) (*Waveform, error) {
	out := &Waveform{Channel: w.Channel, RateHz: w.RateHz, Samples: w.Samples}
	if w.SamplesF32LE == nil {
		return out, nil
	}
	if w.Samples != nil {
		return nil, invalid(ReasonMalformed, "waveform %q: samples and samples_f32le are exclusive", w.Channel)
	}
	samples, err := f32le(w.SamplesF32LE, max, w.Channel)
	out.Samples = samples
	return out, err
}

// f32le decodes float32 little-endian samples; at most max of them.
func f32le(b []byte, max int, channel string) ([]float64, error) {
	if len(b)%4 != 0 {
		return nil, invalid(ReasonMalformed, "waveform %q: %d bytes of float32 samples, not a multiple of 4", channel, len(b))
	}
	n := len(b) / 4
	if n > max {
		return nil, invalid(ReasonTooLarge, "waveform %q: %d samples, limit %d", channel, n, max)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return out, nil
}

// rawWaveformDecoder decodes FormatWaveformF32LE: one waveform of the
// topic's device, stamped with the receive time (a raw payload carries no
// time). Immutable and safe for concurrent use.
type rawWaveformDecoder struct {
	rules *rules
	m     WaveformMapping
}

func newRawWaveformDecoder(r *rules, s *Subscription) Decoder {
	d := &rawWaveformDecoder{rules: r}
	if s.Waveform != nil {
		d.m = *s.Waveform
	}
	return d
}

func (d *rawWaveformDecoder) Decode(dst []Reading, src Source, payload []byte) ([]Reading, error) {
	channel := d.m.Channel
	if channel == "" {
		channel = src.Fields["channel"]
	}
	samples, err := f32le(payload, d.rules.cfg.MaxWaveformSamples, channel)
	if err != nil {
		return nil, err
	}
	r := Reading{Device: src.Device, Fields: src.Fields, Time: src.Received, Received: src.Received,
		Waveform: &Waveform{Channel: channel, RateHz: d.m.RateHz, Samples: samples}}
	if err := d.rules.reading(&r); err != nil {
		return nil, err
	}
	return append(dst, r), nil
}
