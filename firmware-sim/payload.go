package sim

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// EncodePayload returns the v1 JSON object of a reading:
//
//	{"ts":1732233600123,"seq":42,"values":{"bearing_temp_c":61.2,"vibration_rms":2.31}}
//
// ts is unix milliseconds, values keys are sorted, numbers use the shortest
// representation that round-trips. A non-finite value (NaN, ±Inf) is written
// as null so the output is always valid JSON; use FaultPayload for the
// invalid tokens real firmware sends. A zero Time omits "ts", a zero Seq
// omits "seq".
func EncodePayload(r Reading) []byte {
	return AppendPayload(make([]byte, 0, 64+24*len(r.Values)), r)
}

// AppendPayload appends EncodePayload(r) to dst and returns the extended
// buffer; it allocates only when dst is too small.
func AppendPayload(dst []byte, r Reading) []byte {
	dst = append(dst, '{')
	comma := false
	if !r.Time.IsZero() {
		dst = append(dst, `"ts":`...)
		dst = strconv.AppendInt(dst, r.Time.UnixMilli(), 10)
		comma = true
	}
	if r.Seq != 0 {
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `"seq":`...)
		dst = strconv.AppendUint(dst, r.Seq, 10)
		comma = true
	}
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, `"values":`...)
	dst = appendValues(dst, r.Values)
	return append(dst, '}')
}

// EncodeBatch returns the batch payload {"readings":[{obj},{obj}]} of the
// readings, in the given order (normally one device, ascending Seq).
func EncodeBatch(rs []Reading) []byte {
	return AppendBatch(make([]byte, 0, 16+len(rs)*(64+24*7)), rs)
}

// AppendBatch appends EncodeBatch(rs) to dst.
func AppendBatch(dst []byte, rs []Reading) []byte {
	dst = append(dst, `{"readings":[`...)
	for i, r := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendPayload(dst, r)
	}
	return append(dst, "]}"...)
}

// appendValues writes the map with sorted keys. Up to 32 keys are sorted on
// the stack.
func appendValues(dst []byte, values map[string]float64) []byte {
	var stack [32]string
	keys := stack[:0]
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendFloat(dst, values[k])
	}
	return append(dst, '}')
}

// appendFloat writes v as a JSON number (null if not finite), in the format
// encoding/json uses: plain decimal for 1e-6 <= |v| < 1e21, else exponent.
func appendFloat(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(v)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(dst, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// appendString writes s as a JSON string, escaping what JSON requires.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			default:
				dst = append(dst, `\u00`...)
				dst = append(dst, hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

const hexDigit = "0123456789abcdef"
