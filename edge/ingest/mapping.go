package ingest

import (
	"fmt"
	"slices"
)

// Timestamp units of the flat and telegraf mappings (timestamp_unit).
const (
	UnitSeconds = "s"
	UnitMillis  = "ms"
	UnitMicros  = "us"
	UnitNanos   = "ns"
	UnitRFC3339 = "rfc3339"
	UnitNone    = "none" // the timestamp field is ignored: receive time
)

var timestampUnits = []string{UnitSeconds, UnitMillis, UnitMicros, UnitNanos, UnitRFC3339, UnitNone}

// FlatMapping maps a flat JSON object, {"device":"pump-7","ts":1733500000,
// "temp":61.2,"running":true}, to a reading (mqtt.subscriptions[i].flat;
// docs/configuration.md). Zero values are the documented defaults.
type FlatMapping struct {
	// DeviceField is the field holding the device id. Default "": the
	// topic's {device} level. When set and absent from a payload, the
	// topic's {device} level is used.
	DeviceField string `yaml:"device_field"`
	// TimestampField is the field holding the reading's time. Default "ts".
	// Absent or null: the receive time.
	TimestampField string `yaml:"timestamp_field"`
	// TimestampUnit is how a numeric timestamp counts: s, ms (default), us,
	// ns; rfc3339 wants a string; none ignores the field (receive time). A
	// string timestamp is read as RFC 3339 whatever the unit.
	TimestampUnit string `yaml:"timestamp_unit"`
	// SeqField is the field holding the device's message counter
	// (Reading.DeviceSeq). Default "": none.
	SeqField string `yaml:"seq_field"`
	// Include lists the fields that are values; default: every numeric or
	// boolean field except those in Exclude and the fields above.
	Include []string `yaml:"include"`
	// Exclude lists fields that are not values (only without Include).
	Exclude []string `yaml:"exclude"`
	// Labels lists string fields kept as labels (Reading.Fields); other
	// strings are ignored.
	Labels []string `yaml:"labels"`
	// Separator joins the keys of nested objects into one field name
	// ({"motor":{"temp":1}} is "motor.temp"). Default ".".
	Separator string `yaml:"separator"`
}

// SetDefaults fills zero fields with their documented defaults.
func (m *FlatMapping) SetDefaults() {
	if m.TimestampField == "" {
		m.TimestampField = "ts"
	}
	if m.TimestampUnit == "" {
		m.TimestampUnit = UnitMillis
	}
	if m.Separator == "" {
		m.Separator = "."
	}
}

// validate names the first bad key under path (mqtt.subscriptions[i].flat).
func (m *FlatMapping) validate(path string, tt *TopicTemplate) error {
	if !slices.Contains(timestampUnits, m.TimestampUnit) {
		return fmt.Errorf("%s.timestamp_unit: must be one of %v, got %q", path, timestampUnits, m.TimestampUnit)
	}
	if len(m.Include) > 0 && len(m.Exclude) > 0 {
		return fmt.Errorf("%s: include and exclude are exclusive; list the values in include", path)
	}
	special := []string{m.DeviceField, m.TimestampField, m.SeqField}
	for _, list := range []struct {
		key   string
		names []string
	}{{"include", m.Include}, {"exclude", m.Exclude}, {"labels", m.Labels}} {
		for j, n := range list.names {
			if n == "" || len(n) > MaxSensorName {
				return fmt.Errorf("%s.%s[%d]: want 1 to %d bytes, got %d", path, list.key, j, MaxSensorName, len(n))
			}
			if list.key != "exclude" && slices.Contains(special, n) {
				return fmt.Errorf("%s.%s[%d]: %q is the device, timestamp or seq field", path, list.key, j, n)
			}
		}
	}
	if err := checkLabels(path+".labels", m.Labels, tt); err != nil {
		return err
	}
	for _, n := range m.Include {
		if slices.Contains(m.Labels, n) {
			return fmt.Errorf("%s.include: %q is also a label", path, n)
		}
	}
	return nil
}

// TelegrafMapping maps Telegraf's JSON serializer output to readings
// (mqtt.subscriptions[i].telegraf; docs/configuration.md). Zero values are
// the documented defaults.
type TelegrafMapping struct {
	// DeviceTag is the tag holding the device id. Default "host". A
	// metric without it takes the topic's {device} level.
	DeviceTag string `yaml:"device_tag"`
	// TimestampUnit is Telegraf's json_timestamp_units: s (default), ms,
	// us, ns; rfc3339 for json_timestamp_format. A string timestamp is read
	// as RFC 3339 whatever the unit.
	TimestampUnit string `yaml:"timestamp_unit"`
	// MeasurementPrefix names a sensor <measurement><separator><field>
	// (default true: cpu_usage_idle); false: the field name alone.
	MeasurementPrefix *bool `yaml:"measurement_prefix"`
	// Separator joins measurement and field. Default "_".
	Separator string `yaml:"separator"`
	// Labels lists the tags (and string fields) kept as labels
	// (Reading.Fields); other tags and strings are ignored.
	Labels []string `yaml:"labels"`
}

// SetDefaults fills zero fields with their documented defaults.
func (m *TelegrafMapping) SetDefaults() {
	if m.DeviceTag == "" {
		m.DeviceTag = "host"
	}
	if m.TimestampUnit == "" {
		m.TimestampUnit = UnitSeconds
	}
	if m.MeasurementPrefix == nil {
		t := true
		m.MeasurementPrefix = &t
	}
	if m.Separator == "" {
		m.Separator = "_"
	}
}

// validate names the first bad key under path (mqtt.subscriptions[i].telegraf).
func (m *TelegrafMapping) validate(path string, tt *TopicTemplate) error {
	if !slices.Contains(timestampUnits, m.TimestampUnit) {
		return fmt.Errorf("%s.timestamp_unit: must be one of %v, got %q", path, timestampUnits, m.TimestampUnit)
	}
	for j, n := range m.Labels {
		if n == "" || len(n) > MaxSensorName {
			return fmt.Errorf("%s.labels[%d]: want 1 to %d bytes, got %d", path, j, MaxSensorName, len(n))
		}
	}
	return checkLabels(path+".labels", m.Labels, tt)
}

// checkLabels rejects a label named like a topic capture (the topic's
// value would hide it) or listed twice.
func checkLabels(path string, labels []string, tt *TopicTemplate) error {
	for j, n := range labels {
		if n == "device" || tt.captures(n) {
			return fmt.Errorf("%s[%d]: %q is a level of the topic template %q", path, j, n, tt)
		}
		if slices.Contains(labels[:j], n) {
			return fmt.Errorf("%s[%d]: %q listed twice", path, j, n)
		}
	}
	return nil
}

// validateMapping checks subscription i's mapping block: only its own
// format's block may be set, and it must be valid. Defaults are applied.
func (s *Subscription) validateMapping(i int, tt *TopicTemplate) error {
	path := fmt.Sprintf("mqtt.subscriptions[%d]", i)
	blocks := []struct {
		key    string
		format string
		set    bool
	}{{"flat", FormatFlat, s.Flat != nil}, {"telegraf", FormatTelegraf, s.Telegraf != nil},
		{"waveform", FormatWaveformF32LE, s.Waveform != nil}}
	for _, b := range blocks {
		if b.set && s.Format != b.format {
			return fmt.Errorf("%s.%s: only for format %s, but format is %q", path, b.key, b.format, s.Format)
		}
	}
	switch s.Format {
	case FormatFlat:
		m := s.flatMapping()
		return m.validate(path+".flat", tt)
	case FormatTelegraf:
		m := s.telegrafMapping()
		return m.validate(path+".telegraf", tt)
	case FormatWaveformF32LE:
		var m WaveformMapping
		if s.Waveform != nil {
			m = *s.Waveform
		}
		return m.validate(path+".waveform", tt)
	}
	return nil
}

// setMappingDefaults gives a flat or telegraf subscription its mapping
// block with defaults applied (so the effective config shows them).
func (s *Subscription) setMappingDefaults() {
	switch s.Format {
	case FormatFlat:
		m := s.flatMapping()
		s.Flat = &m
	case FormatTelegraf:
		m := s.telegrafMapping()
		s.Telegraf = &m
	}
}

// flatMapping is the subscription's flat block with defaults applied.
func (s *Subscription) flatMapping() FlatMapping {
	var m FlatMapping
	if s.Flat != nil {
		m = *s.Flat
	}
	m.SetDefaults()
	return m
}

// telegrafMapping is the subscription's telegraf block with defaults applied.
func (s *Subscription) telegrafMapping() TelegrafMapping {
	var m TelegrafMapping
	if s.Telegraf != nil {
		m = *s.Telegraf
	}
	m.SetDefaults()
	return m
}

// WaveformMapping describes the raw payloads of a waveform_f32le
// subscription (mqtt.subscriptions[i].waveform): the payload is the samples
// alone, float32 little-endian, of one channel at a fixed rate.
type WaveformMapping struct {
	// Channel names the waveform; default: the topic's {channel} level,
	// so one of the two is required.
	Channel string `yaml:"channel"`
	// RateHz is the sample rate; required, > 0.
	RateHz float64 `yaml:"rate_hz"`
}

func (m *WaveformMapping) validate(path string, tt *TopicTemplate) error {
	if m.Channel == "" && !tt.captures("channel") {
		return fmt.Errorf("%s.channel: required when the topic template %q has no {channel} level", path, tt)
	}
	if !(m.RateHz > 0) || m.RateHz > 1e9 {
		return fmt.Errorf("%s.rate_hz: must be > 0 (and at most 1e9), got %g", path, m.RateHz)
	}
	return nil
}
