package ingest

import (
	"fmt"
	"maps"
	"time"
)

// telegrafDecoder decodes FormatTelegraf: the output of Telegraf's JSON
// serializer, one metric
//
//	{"fields":{"usage_idle":91.5},"name":"cpu","tags":{"host":"pump-7"},"timestamp":1733500000}
//
// or a batch, {"metrics":[...]}. Each metric becomes a reading of the
// device in its device tag; metrics of one payload with the same device,
// time and labels are merged into one reading while their sensors do not
// collide. Immutable and safe for concurrent use.
type telegrafDecoder struct {
	rules  *rules
	m      TelegrafMapping
	labels map[string]bool
}

func newTelegrafDecoder(r *rules, s *Subscription) Decoder {
	m := s.telegrafMapping()
	return &telegrafDecoder{rules: r, m: m, labels: setOf(m.Labels)}
}

func (d *telegrafDecoder) devicesFromPayload() {}

// telegrafMetric is one metric object as read.
type telegrafMetric struct {
	name   []byte
	fields []telegrafField
	labels map[string]string
	device []byte
	ts     scalar
	seen   uint8 // keys met, each at most once
}

type telegrafField struct {
	key []byte
	v   float64
}

const (
	seenName = 1 << iota
	seenFields
	seenTags
	seenTimestamp
	seenMetrics
)

func (d *telegrafDecoder) Decode(dst []Reading, src Source, payload []byte) ([]Reading, error) {
	r, err := newJSONReader(payload)
	if err != nil {
		return nil, err
	}
	start := len(dst)
	var one telegrafMetric
	err = r.object(func(key []byte) error {
		if string(key) != "metrics" {
			return d.member(&r, &one, key)
		}
		if one.seen&seenMetrics != 0 {
			return invalid(ReasonMalformed, "duplicate key \"metrics\"")
		}
		one.seen |= seenMetrics
		var err error
		dst, err = d.batch(dst, &r, &src)
		return err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, err
	}
	switch {
	case one.seen == seenMetrics:
	case one.seen&seenMetrics != 0:
		return nil, invalid(ReasonMalformed, "a batch has only \"metrics\"")
	default:
		if dst, err = d.add(dst, start, &src, &one); err != nil {
			return nil, err
		}
	}
	return d.validate(dst, start)
}

// batch reads the "metrics" array.
func (d *telegrafDecoder) batch(dst []Reading, r *jsonReader, src *Source) ([]Reading, error) {
	start, n := len(dst), 0
	err := r.array(func(i int) error {
		if n = i + 1; n > d.rules.cfg.MaxBatch {
			return d.rules.batch(n)
		}
		var m telegrafMetric
		err := r.object(func(key []byte) error { return d.member(r, &m, key) })
		if err == nil {
			dst, err = d.add(dst, start, src, &m)
		}
		if err != nil {
			return prefixed(err, fmt.Sprintf("metrics[%d]: ", i))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, invalid(ReasonMissing, "empty batch")
	}
	return dst, nil
}

// member reads one key of a metric object; unknown keys are skipped.
func (d *telegrafDecoder) member(r *jsonReader, m *telegrafMetric, key []byte) error {
	var bit uint8
	switch string(key) {
	case "name":
		bit = seenName
	case "fields":
		bit = seenFields
	case "tags":
		bit = seenTags
	case "timestamp":
		bit = seenTimestamp
	default:
		return r.skip()
	}
	if m.seen&bit != 0 {
		return invalid(ReasonMalformed, "duplicate key %q", key)
	}
	m.seen |= bit
	switch bit {
	case seenName:
		v, err := d.stringValue(r, "name")
		m.name = v
		return err
	case seenFields:
		return d.fields(r, m)
	case seenTags:
		return d.tags(r, m)
	}
	if c := r.peek(); c == '{' || c == '[' {
		return invalid(ReasonBadTimestamp, "field \"timestamp\": got JSON %s, want a number", jsonKind(c))
	}
	var err error
	m.ts, err = r.scalar()
	return err
}

// stringValue reads a string value of field.
func (d *telegrafDecoder) stringValue(r *jsonReader, field string) ([]byte, error) {
	if r.peek() != '"' {
		return nil, invalid(ReasonWrongType, "field %q: got JSON %s, want string", field, jsonKind(r.peek()))
	}
	raw, err := r.str()
	if err != nil {
		return nil, err
	}
	return unquote(raw)
}

// fields reads the "fields" object: numbers and booleans are values,
// strings are labels when listed, otherwise ignored.
func (d *telegrafDecoder) fields(r *jsonReader, m *telegrafMetric) error {
	if r.peek() != '{' {
		return invalid(ReasonWrongType, "field \"fields\": got JSON %s, want object", jsonKind(r.peek()))
	}
	return r.object(func(key []byte) error {
		if c := r.peek(); c == '{' || c == '[' {
			return invalid(ReasonWrongType, "field \"fields.%s\": got JSON %s, want a number", key, jsonKind(c))
		}
		v, err := r.scalar()
		if err != nil {
			return err
		}
		return d.field(m, key, v)
	})
}

// field maps one field.
func (d *telegrafDecoder) field(m *telegrafMetric, key []byte, v scalar) error {
	f, ok, err := d.rules.number("fields.", key, v)
	if err != nil {
		return err
	}
	if !ok {
		if v.kind == '"' && d.labels[string(key)] {
			s, err := unquote(v.raw)
			if err != nil {
				return err
			}
			return m.label("fields."+string(key), key, s)
		}
		return nil
	}
	m.fields = append(m.fields, telegrafField{key: key, v: f})
	return nil
}

// tags reads the "tags" object: the device tag, and the listed labels.
func (d *telegrafDecoder) tags(r *jsonReader, m *telegrafMetric) error {
	if r.peek() != '{' {
		return invalid(ReasonWrongType, "field \"tags\": got JSON %s, want object", jsonKind(r.peek()))
	}
	return r.object(func(key []byte) error {
		v, err := d.stringValue(r, "tags."+string(key))
		if err != nil {
			return err
		}
		if string(key) == d.m.DeviceTag {
			m.device = v
		}
		if d.labels[string(key)] {
			return m.label("tags."+string(key), key, v)
		}
		return nil
	})
}

// label keeps a tag or string field as a label.
func (m *telegrafMetric) label(path string, key, v []byte) error {
	if len(v) > maxLabelLen {
		return invalid(ReasonTooLarge, "field %q: label of %d bytes, limit %d", path, len(v), maxLabelLen)
	}
	if m.labels == nil {
		m.labels = make(map[string]string, 4)
	}
	if _, dup := m.labels[string(key)]; dup {
		return invalid(ReasonMalformed, "duplicate label %q", key)
	}
	m.labels[string(key)] = string(v)
	return nil
}

// add appends metric m as a reading to dst, or merges it into the last
// reading of this payload (those from index start) when that has the same
// device, time and labels and none of m's sensors.
func (d *telegrafDecoder) add(dst []Reading, start int, src *Source, m *telegrafMetric) ([]Reading, error) {
	r := Reading{Device: src.Device, Fields: src.Fields, Received: src.Received, Time: src.Received}
	var err error
	if m.device != nil {
		if r.Device, err = payloadDevice("tags."+d.m.DeviceTag, m.device, src.sc); err != nil {
			return nil, err
		}
	}
	if err := d.rules.admitDevice(r.Device); err != nil {
		return nil, err
	}
	if m.seen&seenTimestamp != 0 && d.m.TimestampUnit != UnitNone {
		t, ok, err := mappedTime("timestamp", m.ts, d.m.TimestampUnit)
		if err != nil {
			return nil, err
		}
		if ok {
			r.Time = t
		}
	}
	if len(m.fields) == 0 {
		return nil, invalid(ReasonMissing, "metric %q has no numeric or boolean field", m.name)
	}
	r.Fields = withLabels(r.Fields, m.labels)
	if n := len(dst); n > start && d.mergeable(&dst[n-1], &r, m) {
		return dst, d.putValues(dst[n-1].Values, m, src.sc)
	}
	r.Values = src.sc.valueMapOrNew()
	if err := d.putValues(r.Values, m, src.sc); err != nil {
		return nil, err
	}
	return append(dst, r), nil
}

// mergeable reports whether metric m (as reading r) can join last.
func (d *telegrafDecoder) mergeable(last, r *Reading, m *telegrafMetric) bool {
	if last.Device != r.Device || !last.Time.Equal(r.Time) || !maps.Equal(last.Fields, r.Fields) {
		return false
	}
	var buf [2 * MaxSensorName]byte
	for _, f := range m.fields {
		if _, taken := last.Values[string(d.sensor(buf[:0], m.name, f.key))]; taken {
			return false
		}
	}
	return true
}

// putValues puts m's fields into values under their sensor names; a
// field repeated in m is an error.
func (d *telegrafDecoder) putValues(values map[string]float64, m *telegrafMetric, sc *scratch) error {
	var buf [2 * MaxSensorName]byte
	for _, f := range m.fields {
		name := sc.internOrCopy(d.sensor(buf[:0], m.name, f.key))
		if _, dup := values[name]; dup {
			return invalid(ReasonMalformed, "duplicate field \"fields.%s\"", f.key)
		}
		values[name] = f.v
	}
	return nil
}

// sensor appends the sensor name of field key of measurement name to dst.
func (d *telegrafDecoder) sensor(dst, name, key []byte) []byte {
	if *d.m.MeasurementPrefix && len(name) > 0 {
		dst = append(append(dst, name...), d.m.Separator...)
	}
	return append(dst, key...)
}

// validate checks the readings of this payload (from index start).
func (d *telegrafDecoder) validate(dst []Reading, start int) ([]Reading, error) {
	for i := start; i < len(dst); i++ {
		if err := unitHint(d.rules.reading(&dst[i]), "telegraf", d.m.TimestampUnit); err != nil {
			if len(dst)-start > 1 {
				return nil, prefixed(err, fmt.Sprintf("reading of %s at %s: ", dst[i].Device, dst[i].Time.UTC().Format(time.RFC3339)))
			}
			return nil, err
		}
	}
	return dst, nil
}
