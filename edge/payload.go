package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"time"
)

// Reading is one decoded, validated sensor reading.
type Reading struct {
	Device    string
	Fields    map[string]string // other topic captures, e.g. site, line
	Time      time.Time         // the device's timestamp, or Received when absent
	Received  time.Time         // when the gateway received the message
	DeviceSeq uint64            // the device's own counter; 0 when absent
	Values    map[string]float64
	Waveform  *Waveform // set for waveform payloads

	rawValues []byte // Values as JSON, when the payload's bytes can be reused
}

// Waveform is a block of samples of one channel at a fixed rate.
type Waveform struct {
	Channel string    `json:"channel"`
	RateHz  float64   `json:"rate_hz"`
	Samples []float64 `json:"samples"`
}

// wireReading is payload format v1 (docs/formats/mqtt-payloads.md).
type wireReading struct {
	TS       json.RawMessage    `json:"ts"`
	Seq      *uint64            `json:"seq"`
	Values   map[string]float64 `json:"values"`
	Waveform *Waveform          `json:"waveform"`
	Readings []wireReading      `json:"readings"`

	// rawValues is the payload's "values" object as sent, set only by the
	// fast path (valid JSON, finite numbers, no duplicate keys).
	rawValues []byte
}

// Decoder decodes and validates MQTT payloads. It is immutable after
// construction and safe for concurrent use.
type Decoder struct {
	cfg ValidationConfig
	now func() time.Time
}

// NewDecoder returns a decoder for the validation settings (zero values are
// the documented defaults). now may be nil (time.Now).
func NewDecoder(cfg ValidationConfig, now func() time.Time) *Decoder {
	cfg.setDefaults()
	if now == nil {
		now = time.Now
	}
	return &Decoder{cfg: cfg, now: now}
}

// Decode decodes one MQTT payload from device into one or more readings.
// A bad payload returns an *InvalidError naming the reason; no reading of a
// bad batch is returned (the whole message goes to the dead-letter stream).
func (d *Decoder) Decode(device string, fields map[string]string, payload []byte) ([]Reading, error) {
	return d.decode(nil, device, fields, payload, d.now(), nil)
}

// decode is Decode appending to dst, with the receive time given and, when
// sc is not nil, the values maps and sensor names taken from sc (see
// decodeScratch for what that means for the readings' lifetime).
func (d *Decoder) decode(dst []Reading, device string, fields map[string]string, payload []byte, received time.Time,
	sc *decodeScratch) ([]Reading, error) {
	if len(payload) > d.cfg.MaxPayloadBytes {
		return nil, invalid(ReasonTooLarge, "payload is %d bytes, limit %d", len(payload), d.cfg.MaxPayloadBytes)
	}
	if !d.deviceAllowed(device) {
		return nil, invalid(ReasonUnknownDevice, "device %q is not in validation.devices", device)
	}
	w, ok := fastDecode(payload, sc)
	if !ok {
		w = wireReading{}
		if err := json.Unmarshal(payload, &w); err != nil {
			return nil, classifyJSONError(err)
		}
	}
	if w.Readings != nil {
		if w.Values != nil || w.Waveform != nil {
			return nil, invalid(ReasonMalformed, "a batch has only \"readings\"")
		}
		if len(w.Readings) == 0 {
			return nil, invalid(ReasonMissing, "empty batch")
		}
		if len(w.Readings) > d.cfg.MaxBatch {
			return nil, invalid(ReasonTooLarge, "batch of %d readings, limit %d", len(w.Readings), d.cfg.MaxBatch)
		}
		out := dst
		for i := range w.Readings {
			if w.Readings[i].Readings != nil {
				return nil, invalid(ReasonMalformed, "readings[%d]: nested batch", i)
			}
			r, err := d.reading(device, fields, received, &w.Readings[i])
			if err != nil {
				var ie *InvalidError
				if errors.As(err, &ie) {
					ie.Detail = fmt.Sprintf("readings[%d]: %s", i, ie.Detail)
				}
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	r, err := d.reading(device, fields, received, &w)
	if err != nil {
		return nil, err
	}
	return append(dst, r), nil
}

func (d *Decoder) reading(device string, fields map[string]string, received time.Time, w *wireReading) (Reading, error) {
	r := Reading{Device: device, Fields: fields, Received: received, Time: received}
	if w.Seq != nil {
		r.DeviceSeq = *w.Seq
	}
	if len(w.TS) > 0 && string(w.TS) != "null" {
		ts, err := parseTS(w.TS)
		if err != nil {
			return r, err
		}
		if skew := ts.Sub(received).Abs(); d.cfg.MaxClockSkew > 0 && skew > d.cfg.MaxClockSkew {
			return r, invalid(ReasonClockSkew, "timestamp %s is %s from the gateway clock, limit %s",
				ts.UTC().Format(time.RFC3339Nano), skew.Round(time.Second), d.cfg.MaxClockSkew)
		}
		if ahead := ts.Sub(received); d.cfg.MaxFutureSkew > 0 && ahead > d.cfg.MaxFutureSkew {
			return r, invalid(ReasonClockSkew, "timestamp %s is %s ahead of the gateway clock, limit %s (validation.max_future_skew)",
				ts.UTC().Format(time.RFC3339Nano), ahead.Round(time.Second), d.cfg.MaxFutureSkew)
		}
		r.Time = ts
	}
	if len(w.Values) == 0 && w.Waveform == nil {
		return r, invalid(ReasonMissing, "no \"values\" and no \"waveform\"")
	}
	for k, v := range w.Values {
		if err := d.checkValue(k, v); err != nil {
			return r, err
		}
	}
	r.Values, r.rawValues = w.Values, w.rawValues
	if w.Waveform != nil {
		if err := d.checkWaveform(w.Waveform); err != nil {
			return r, err
		}
		r.Waveform = w.Waveform
	}
	return r, nil
}

func (d *Decoder) checkValue(name string, v float64) error {
	if name == "" {
		return invalid(ReasonMalformed, "empty sensor name")
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid(ReasonNonFinite, "sensor %q: %v", name, v)
	}
	if rg, ok := d.cfg.Ranges[name]; ok && (v < rg.Min || v > rg.Max) {
		return invalid(ReasonOutOfRange, "sensor %q: %g outside [%g, %g]", name, v, rg.Min, rg.Max)
	}
	return nil
}

func (d *Decoder) checkWaveform(w *Waveform) error {
	switch {
	case w.Channel == "":
		return invalid(ReasonMissing, "waveform: no channel")
	case !(w.RateHz > 0) || math.IsInf(w.RateHz, 0):
		return invalid(ReasonOutOfRange, "waveform %q: rate_hz must be > 0, got %g", w.Channel, w.RateHz)
	case len(w.Samples) == 0:
		return invalid(ReasonMissing, "waveform %q: no samples", w.Channel)
	case len(w.Samples) > d.cfg.MaxWaveformSamples:
		return invalid(ReasonTooLarge, "waveform %q: %d samples, limit %d", w.Channel, len(w.Samples), d.cfg.MaxWaveformSamples)
	}
	for i, s := range w.Samples {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return invalid(ReasonNonFinite, "waveform %q: sample %d: %v", w.Channel, i, s)
		}
	}
	return nil
}

func (d *Decoder) deviceAllowed(device string) bool {
	if d.cfg.UnknownDevice != UnknownDeviceReject || len(d.cfg.Devices) == 0 {
		return true
	}
	for _, pat := range d.cfg.Devices {
		if ok, _ := path.Match(pat, device); ok {
			return true
		}
	}
	return false
}

// parseTS accepts unix milliseconds (a JSON integer) or an RFC 3339 string.
func parseTS(raw json.RawMessage) (time.Time, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, invalid(ReasonBadTimestamp, "ts: %v", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, invalid(ReasonBadTimestamp, "ts %q is not RFC 3339", s)
		}
		return t, nil
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return time.Time{}, invalid(ReasonBadTimestamp, "ts %s is not integer unix milliseconds", raw)
	}
	return time.UnixMilli(ms), nil
}

func classifyJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Type.String() == "float64" && len(te.Value) > 7 && te.Value[:7] == "number " {
			return invalid(ReasonNonFinite, "field %q: %s overflows float64", te.Field, te.Value)
		}
		return invalid(ReasonWrongType, "field %q: got JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return invalid(ReasonMalformed, "%v", err)
}
