package ingest

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
)

// finish builds the reading of a flat object read into st and validates it.
func (st *flatState) finish() (Reading, error) {
	m := &st.d.m
	r := Reading{Device: st.src.Device, Fields: st.src.Fields, Received: st.src.Received,
		Time: st.src.Received, Values: st.values}
	var err error
	if st.seen&seenDevice != 0 {
		if r.Device, err = payloadDevice(m.DeviceField, st.device, st.src.sc); err != nil {
			return r, err
		}
	}
	if err := st.d.rules.admitDevice(r.Device); err != nil {
		return r, err
	}
	if st.seen&seenTS != 0 && m.TimestampUnit != UnitNone {
		t, ok, err := mappedTime(m.TimestampField, st.ts, m.TimestampUnit)
		if err != nil {
			return r, err
		}
		if ok {
			r.Time = t
		}
	}
	if st.seen&seenSeq != 0 && st.seq.kind != 'n' {
		if r.DeviceSeq, err = deviceSeq(m.SeqField, st.seq); err != nil {
			return r, err
		}
	}
	r.Fields = withLabels(r.Fields, st.labels)
	if st.json {
		r.ValuesJSON = st.src.sc.endJSON(st.jsonStart)
	}
	if len(r.Values) == 0 {
		return r, invalid(ReasonMissing, "no numeric or boolean field (flat mapping)")
	}
	return r, unitHint(st.d.rules.reading(&r), "flat", m.TimestampUnit)
}

// payloadDevice checks a device id read from field of the payload.
func payloadDevice(field string, id []byte, sc *scratch) (string, error) {
	dev := sc.internOrCopy(id) // no allocation for a device seen before
	if err := checkDevice(dev); err != nil {
		return "", invalid(ReasonBadDevice, "field %q: %s", field, asInvalid(err).Detail)
	}
	return dev, nil
}

// deviceSeq reads the device's counter from field.
func deviceSeq(field string, v scalar) (uint64, error) {
	n, err := strconv.ParseUint(string(v.raw), 10, 64)
	if v.kind != '0' || err != nil {
		return 0, invalid(ReasonWrongType, "field %q: want an unsigned integer, got %s", field, v.raw)
	}
	return n, nil
}

// withLabels returns the topic's fields with labels added (a new map: the
// topic's map is shared and never modified); fields when there are none.
// checkLabels keeps a label from shadowing a topic capture.
func withLabels(fields, labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return fields
	}
	out := make(map[string]string, len(fields)+len(labels))
	maps.Copy(out, fields)
	maps.Copy(out, labels)
	return out
}

// unitHint adds the configured timestamp unit to a clock_skew error: a
// wrong unit is the usual cause.
func unitHint(err error, block, unit string) error {
	if err == nil {
		return nil
	}
	var ie *InvalidError
	if errors.As(err, &ie) && ie.Reason == ReasonClockSkew {
		ie.Detail += fmt.Sprintf(" (timestamps are read in %s.timestamp_unit: %s)", block, unit)
	}
	return err
}

// number maps a scalar field (prefix+key, for errors) to a value: a
// number, a boolean as 1 or 0. A null is wrong_type, or skipped (ok false)
// with validation.null_values: skip; a string is ok false, for the caller
// to decide.
func (r *rules) number(prefix string, key []byte, v scalar) (f float64, ok bool, err error) {
	switch v.kind {
	case '0':
		if f, err = strconv.ParseFloat(string(v.raw), 64); err != nil {
			return 0, false, invalid(ReasonNonFinite, "field \"%s%s\": %s overflows float64", prefix, key, v.raw)
		}
		return f, true, nil
	case 't':
		return 1, true, nil
	case 'f':
		return 0, true, nil
	case 'n':
		if r.cfg.NullValues == NullSkip {
			return 0, false, nil
		}
		return 0, false, invalid(ReasonWrongType, "field \"%s%s\": got JSON null, want a number (validation.null_values)", prefix, key)
	}
	return 0, false, nil
}
