package ingest

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// unitNanos is the length of one count of a numeric timestamp unit.
func unitNanos(unit string) int64 {
	switch unit {
	case UnitSeconds:
		return 1e9
	case UnitMillis:
		return 1e6
	case UnitMicros:
		return 1e3
	}
	return 1
}

// maxTimestampSeconds bounds a numeric timestamp (year 5138): beyond, it
// is bad_timestamp rather than a time.Time arithmetic overflow.
const maxTimestampSeconds = 1e11

// mappedTime reads the timestamp v of field (a flat or telegraf mapping)
// in unit. ok is false when it is null (the receive time stands). A string
// is RFC 3339 whatever the unit; a number counts unit (integer or
// fraction).
func mappedTime(field string, v scalar, unit string) (t time.Time, ok bool, err error) {
	switch v.kind {
	case 'n':
		return t, false, nil
	case '"':
		s, uerr := unquote(v.raw)
		if uerr != nil {
			return t, false, uerr
		}
		t, perr := time.Parse(time.RFC3339Nano, string(s))
		if perr != nil {
			return t, false, invalid(ReasonBadTimestamp, "field %q: %q is not RFC 3339", field, s)
		}
		return t, true, nil
	case '0':
		if unit == UnitRFC3339 {
			return t, false, invalid(ReasonBadTimestamp, "field %q: got the number %s, want an RFC 3339 string (timestamp_unit: rfc3339)", field, v.raw)
		}
		return numericTime(field, v.raw, unitNanos(unit), unit)
	}
	return t, false, invalid(ReasonBadTimestamp, "field %q: got JSON bool, want a number or an RFC 3339 string", field)
}

// numericTime converts a count of per-nanosecond units to a time.
func numericTime(field string, raw []byte, per int64, unit string) (time.Time, bool, error) {
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		div := 1e9 / per
		sec, rem := n/div, n%div
		if sec > maxTimestampSeconds || sec < -maxTimestampSeconds {
			return time.Time{}, false, badTimestamp(field, raw, unit)
		}
		return time.Unix(sec, rem*per), true, nil
	}
	if t, ok := decimalTime(raw, per); ok {
		return t, true, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) {
		return time.Time{}, false, badTimestamp(field, raw, unit)
	}
	sec := f * float64(per) / 1e9
	if sec > maxTimestampSeconds || sec < -maxTimestampSeconds {
		return time.Time{}, false, badTimestamp(field, raw, unit)
	}
	whole := math.Floor(sec)
	return time.Unix(int64(whole), int64((sec-whole)*1e9)), true, nil
}

func badTimestamp(field string, raw []byte, unit string) error {
	return invalid(ReasonBadTimestamp, "field %q: %s is not a time in unit %s (timestamp_unit)", field, raw, unit)
}

// decimalTime reads a number with a fraction and no exponent exactly (to
// the nanosecond): float64 would turn 1780000000.25 s into ...0.249999761.
func decimalTime(raw []byte, per int64) (time.Time, bool) {
	dot := bytes.IndexByte(raw, '.')
	if dot < 0 || bytes.ContainsAny(raw, "eE") {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(string(raw[:dot]), 10, 64)
	div := 1e9 / per
	if err != nil || n/div > maxTimestampSeconds || n/div < -maxTimestampSeconds {
		return time.Time{}, false
	}
	var frac [9]byte
	for i := range frac {
		frac[i] = '0'
	}
	copy(frac[:], raw[dot+1:])
	f, _ := strconv.ParseInt(string(frac[:]), 10, 64) // nanos of one second
	fracNs := f * per / 1e9
	if raw[0] == '-' {
		fracNs = -fracNs
	}
	return time.Unix(n/div, (n%div)*per+fracNs), true
}
