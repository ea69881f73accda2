package ingest

import (
	"math"
	"path"
	"time"
)

// rules are the validation checks every payload format shares
// (validation.*), for a ValidationConfig with defaults applied. Immutable
// and safe for concurrent use.
type rules struct {
	cfg ValidationConfig
}

// admitSize checks the payload's size before decoding.
func (r *rules) admitSize(payload []byte) error {
	if len(payload) > r.cfg.MaxPayloadBytes {
		return invalid(ReasonTooLarge, "payload is %d bytes, limit %d", len(payload), r.cfg.MaxPayloadBytes)
	}
	return nil
}

// admitDevice checks a device against the device list.
func (r *rules) admitDevice(device string) error {
	if !r.deviceAllowed(device) {
		return invalid(ReasonUnknownDevice, "device %q is not in validation.devices", device)
	}
	return nil
}

// batch checks the number of readings in one batch payload (n > 0).
func (r *rules) batch(n int) error {
	if n > r.cfg.MaxBatch {
		return invalid(ReasonTooLarge, "batch of %d readings, limit %d", n, r.cfg.MaxBatch)
	}
	return nil
}

// reading checks a decoded reading: its timestamp against the gateway
// clock (a reading without one has Time == Received), that it carries
// values or a waveform, and those values.
func (r *rules) reading(rd *Reading) error {
	if skew := rd.Time.Sub(rd.Received).Abs(); r.cfg.MaxClockSkew > 0 && skew > r.cfg.MaxClockSkew {
		return invalid(ReasonClockSkew, "timestamp %s is %s from the gateway clock, limit %s",
			rd.Time.UTC().Format(time.RFC3339Nano), skew.Round(time.Second), r.cfg.MaxClockSkew)
	}
	if ahead := rd.Time.Sub(rd.Received); r.cfg.MaxFutureSkew > 0 && ahead > r.cfg.MaxFutureSkew {
		return invalid(ReasonClockSkew, "timestamp %s is %s ahead of the gateway clock, limit %s (validation.max_future_skew)",
			rd.Time.UTC().Format(time.RFC3339Nano), ahead.Round(time.Second), r.cfg.MaxFutureSkew)
	}
	if len(rd.Values) == 0 && rd.Waveform == nil {
		return invalid(ReasonMissing, "no \"values\" and no \"waveform\"")
	}
	for k, v := range rd.Values {
		if err := r.value(k, v); err != nil {
			return err
		}
	}
	if rd.Waveform != nil {
		return r.waveform(rd.Waveform)
	}
	return nil
}

// MaxSensorName is the longest sensor name accepted, in bytes.
const MaxSensorName = 128

// MaxDeviceID is the longest device id (the topic's {device} level)
// accepted, in bytes.
const MaxDeviceID = 128

func (r *rules) value(name string, v float64) error {
	switch {
	case name == "":
		return invalid(ReasonMalformed, "field \"values\": empty sensor name")
	case len(name) > MaxSensorName:
		return invalid(ReasonTooLarge, "field \"values\": sensor name of %d bytes, limit %d", len(name), MaxSensorName)
	case math.IsNaN(v) || math.IsInf(v, 0):
		return invalid(ReasonNonFinite, "field \"values.%s\": %v", name, v)
	}
	if rg, ok := r.cfg.Ranges[name]; ok && (v < rg.Min || v > rg.Max) {
		return invalid(ReasonOutOfRange, "field \"values.%s\": %g outside [%g, %g]", name, v, rg.Min, rg.Max)
	}
	return nil
}

// checkDevice checks a device id taken from a topic: 1 to MaxDeviceID
// bytes of ASCII letters, digits and - _ . : @ (it becomes the Kafka key
// and appears in logs, metrics and the status page).
func checkDevice(device string) error { return checkDeviceID(device, false) }

// checkDeviceID is checkDevice, with / allowed too when slash (the device
// id a sparkplug_b device_id template composes of topic levels).
func checkDeviceID(device string, slash bool) error {
	if device == "" || len(device) > MaxDeviceID {
		return invalid(ReasonBadTopic, "device id of %d bytes, want 1 to %d", len(device), MaxDeviceID)
	}
	for i := 0; i < len(device); i++ {
		if !deviceChar(device[i]) && !(slash && device[i] == '/') {
			return invalid(ReasonBadTopic, "device id %q: character %q not allowed (letters, digits, - _ . : @)", device, device[i])
		}
	}
	return nil
}

func deviceChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', ':', '@':
		return true
	}
	return false
}

func (r *rules) waveform(w *Waveform) error {
	switch {
	case w.Channel == "":
		return invalid(ReasonMissing, "waveform: no channel")
	case !(w.RateHz > 0) || math.IsInf(w.RateHz, 0):
		return invalid(ReasonOutOfRange, "waveform %q: rate_hz must be > 0, got %g", w.Channel, w.RateHz)
	case len(w.Samples) == 0:
		return invalid(ReasonMissing, "waveform %q: no samples", w.Channel)
	case len(w.Samples) > r.cfg.MaxWaveformSamples:
		return invalid(ReasonTooLarge, "waveform %q: %d samples, limit %d", w.Channel, len(w.Samples), r.cfg.MaxWaveformSamples)
	}
	for i, s := range w.Samples {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return invalid(ReasonNonFinite, "waveform %q: sample %d: %v", w.Channel, i, s)
		}
	}
	return nil
}

func (r *rules) deviceAllowed(device string) bool {
	if r.cfg.UnknownDevice != UnknownDeviceReject || len(r.cfg.Devices) == 0 {
		return true
	}
	for _, pat := range r.cfg.Devices {
		if ok, _ := path.Match(pat, device); ok {
			return true
		}
	}
	return false
}
