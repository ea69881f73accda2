package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// strictScan checks an edgepm payload for what encoding/json lets
// through: a key repeated in one object (json keeps the last), null where
// a number belongs (json stores 0 for a null in "values" or "samples"),
// and a value of the wrong type inside "values" or "waveform.samples"
// (json's error names neither the sensor nor the sample). Its errors name
// the full field path ("readings[2].values.temp").
//
// It runs on the plain path only, after json.Unmarshal found the payload
// syntactically valid (a type error is fine: strictScan words it). The
// fast path accepts none of these cases (it falls back), so it costs the
// common payload nothing. With skipNull, a null sensor is not an error
// but listed in skipped, for the caller to delete from the decoded values.
// Not safe for concurrent use; one per payload.
type strictScan struct {
	b        []byte
	i        int
	skipNull bool
	skipped  []nullSensor
}

// nullSensor is a sensor sent as null, skipped by validation.null_values:
// skip. reading is its index in a batch, -1 for a single reading.
type nullSensor struct {
	reading int
	name    string
}

// run scans the payload (a top-level object; anything else is left to
// encoding/json's error).
func (s *strictScan) run() error {
	s.ws()
	if s.peek() != '{' {
		return nil
	}
	return s.reading(-1)
}

// reading scans a reading object (the payload or a batch member). idx is
// its index in the batch, -1 for the payload itself.
func (s *strictScan) reading(idx int) error {
	return s.object(true, func(key []byte) error {
		switch {
		case bytes.EqualFold(key, []byte("values")):
			return s.values(idx)
		case bytes.EqualFold(key, []byte("waveform")):
			return s.waveform(idx)
		case idx < 0 && bytes.EqualFold(key, []byte("readings")) && s.peek() == '[':
			return s.array(func(i int) error {
				if s.peek() != '{' {
					return s.value()
				}
				return s.reading(i)
			})
		}
		return s.value()
	})
}

// values scans a "values" object: numbers, or null when skipped.
func (s *strictScan) values(idx int) error {
	if s.peek() != '{' {
		return s.value()
	}
	return s.object(false, func(key []byte) error {
		if s.peek() == 'n' && s.skipNull {
			s.skipped = append(s.skipped, nullSensor{reading: idx, name: string(key)})
			return s.value()
		}
		if !s.number() {
			return s.wrongType(memberPath(idx) + "values." + string(key))
		}
		return nil
	})
}

// waveform scans a "waveform" object; its "samples" must be numbers.
func (s *strictScan) waveform(idx int) error {
	if s.peek() != '{' {
		return s.value()
	}
	return s.object(true, func(key []byte) error {
		if !bytes.EqualFold(key, []byte("samples")) || s.peek() != '[' {
			return s.value()
		}
		return s.array(func(i int) error {
			if !s.number() {
				return s.wrongType(memberPath(idx) + "waveform.samples[" + strconv.Itoa(i) + "]")
			}
			return nil
		})
	})
}

// memberPath is the path prefix of batch member idx ("" for -1).
func memberPath(idx int) string {
	if idx < 0 {
		return ""
	}
	return "readings[" + strconv.Itoa(idx) + "]."
}

// number scans a value that must be a number; false (not moving) when it
// is not one.
func (s *strictScan) number() bool {
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		return false
	}
	_ = s.value()
	return true
}

// wrongType is the error for the value at the scan position, at path.
func (s *strictScan) wrongType(path string) error {
	return invalid(ReasonWrongType, "field %q: got JSON %s, want float64", path, jsonKind(s.peek()))
}

// jsonKind names the JSON type of a value by its first byte, as
// encoding/json's errors do.
func jsonKind(c byte) string {
	switch c {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// object scans an object, calling member for each value (positioned at
// it) with its key, and rejects a key seen before in the object (compared
// case-insensitively when fold: encoding/json matches struct fields so).
func (s *strictScan) object(fold bool, member func(key []byte) error) error {
	s.i++                // '{'
	var small [16][]byte // most objects: no allocation
	keys := small[:0]
	for {
		s.ws()
		if s.peek() == '}' {
			s.i++
			return nil
		}
		key := s.key()
		if key == nil {
			return nil // not valid JSON after all: json.Unmarshal's error stands
		}
		for _, k := range keys {
			if bytes.Equal(k, key) || (fold && bytes.EqualFold(k, key)) {
				return invalid(ReasonMalformed, "duplicate key %q", key)
			}
		}
		keys = append(keys, key)
		if !s.colon() {
			return nil
		}
		if err := member(key); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
		default:
			return nil // not valid JSON: json.Unmarshal's error stands
		}
	}
}

// array scans an array, calling elem for each element (positioned at it).
func (s *strictScan) array(elem func(i int) error) error {
	s.i++ // '['
	for n := 0; ; n++ {
		s.ws()
		switch s.peek() {
		case ']':
			s.i++
			return nil
		case 0:
			return nil
		}
		if err := elem(n); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
		default:
			return nil // not valid JSON: json.Unmarshal's error stands
		}
	}
}

// value skips any value, checking the objects inside it for duplicates.
func (s *strictScan) value() error {
	switch s.peek() {
	case '{':
		return s.object(false, func([]byte) error { return s.value() })
	case '[':
		return s.array(func(int) error { return s.value() })
	case '"':
		s.str()
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return nil
			}
			s.i++
		}
	}
	return nil
}

// key scans an object key and returns it unescaped; nil at bad input.
func (s *strictScan) key() []byte {
	raw := s.str()
	if len(raw) < 2 {
		return nil
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1]
	}
	var k string
	if json.Unmarshal(raw, &k) != nil {
		return nil
	}
	return []byte(k)
}

// str scans a string token and returns it with its quotes.
func (s *strictScan) str() []byte {
	if s.peek() != '"' {
		return nil
	}
	start := s.i
	for j := s.i + 1; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			j++
		case '"':
			s.i = j + 1
			return s.b[start:s.i]
		}
	}
	s.i = len(s.b)
	return nil
}

// colon skips the ':' after a key; false when it is missing.
func (s *strictScan) colon() bool {
	s.ws()
	if s.peek() != ':' {
		return false
	}
	s.i++
	s.ws()
	return true
}

func (s *strictScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *strictScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}
