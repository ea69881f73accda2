package ingest

import (
	"encoding/json"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of objects and arrays the flat and
// telegraf decoders read (their recursion depth).
const maxJSONDepth = 32

// jsonReader is a strict JSON reader for the flat and telegraf decoders:
// it checks the full grammar itself (no encoding/json pass first), reports
// each error as malformed_json with its byte offset, and allocates only to
// unescape a string that has escapes. Callers walk objects and arrays with
// enter and next:
//
//	r.enter('{')
//	for first := true; ; first = false {
//		more, err := r.next('}', first)
//		...
//		key, err := r.key()
//		... read or skip the value ...
//	}
//
// Not safe for concurrent use; one per payload.
type jsonReader struct {
	b     []byte
	i     int
	depth int
}

// newJSONReader returns a reader of b; b must be valid UTF-8.
func newJSONReader(b []byte) (jsonReader, error) {
	if !utf8.Valid(b) {
		return jsonReader{}, invalid(ReasonMalformed, "payload is not valid UTF-8")
	}
	return jsonReader{b: b}, nil
}

func (r *jsonReader) syntax(what string) error {
	if r.i >= len(r.b) {
		return invalid(ReasonMalformed, "unexpected end of JSON input")
	}
	return invalid(ReasonMalformed, "offset %d: %s, got %q", r.i, what, r.b[r.i])
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// enter consumes open ('{' or '[') and counts the depth.
func (r *jsonReader) enter(open byte) error {
	if r.peek() != open {
		return r.syntax("want " + string(open))
	}
	if r.depth++; r.depth > maxJSONDepth {
		return invalid(ReasonMalformed, "offset %d: nested deeper than %d", r.i, maxJSONDepth)
	}
	r.i++
	return nil
}

// next moves to the next member of the object or array being read (close
// is its closing byte); false when it ended (consumed).
func (r *jsonReader) next(close byte, first bool) (bool, error) {
	c := r.peek()
	if c == close {
		r.i++
		r.depth--
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, r.syntax("want , or " + string(close))
		}
		r.i++
	}
	return true, nil
}

// key reads an object key and its colon; the key is unescaped (a copy only
// when it had escapes).
func (r *jsonReader) key() ([]byte, error) {
	raw, err := r.str()
	if err != nil {
		return nil, err
	}
	if r.peek() != ':' {
		return nil, r.syntax("want :")
	}
	r.i++
	return unquote(raw)
}

// unquote returns a string token's content, unescaped.
func unquote(raw []byte) ([]byte, error) {
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, invalid(ReasonMalformed, "string %.40q: %v", raw, err)
			}
			return []byte(s), nil
		}
	}
	return inner, nil
}

// str reads a string token, checked (escapes, no control characters), and
// returns it with its quotes.
func (r *jsonReader) str() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.syntax("want a string")
	}
	start := r.i
	for j := r.i + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			r.i = j + 1
			return r.b[start:r.i], nil
		case c < 0x20:
			r.i = j
			return nil, r.syntax("control character in string")
		case c == '\\':
			n, ok := escapeLen(r.b[j+1:])
			if !ok {
				r.i = j
				return nil, r.syntax("bad escape")
			}
			j += n
		}
	}
	r.i = len(r.b)
	return nil, r.syntax("")
}

// escapeLen is the length of the escape after a backslash; false if bad.
func escapeLen(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	switch b[0] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 1, true
	case 'u':
		if len(b) < 5 {
			return 0, false
		}
		for _, c := range b[1:5] {
			if !isHex(c) {
				return 0, false
			}
		}
		return 5, true
	}
	return 0, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number reads a number token (strict grammar).
func (r *jsonReader) number() ([]byte, error) {
	r.ws()
	start, j := r.i, r.i
	if j < len(r.b) && r.b[j] == '-' {
		j++
	}
	switch {
	case j < len(r.b) && r.b[j] == '0':
		j++
	case j < len(r.b) && r.b[j] >= '1' && r.b[j] <= '9':
		j = digits(r.b, j)
	default:
		r.i = j
		return nil, r.syntax("want a number")
	}
	if j < len(r.b) && r.b[j] == '.' {
		k := digits(r.b, j+1)
		if k == j+1 {
			r.i = k
			return nil, r.syntax("want a digit")
		}
		j = k
	}
	if j < len(r.b) && (r.b[j] == 'e' || r.b[j] == 'E') {
		j++
		if j < len(r.b) && (r.b[j] == '+' || r.b[j] == '-') {
			j++
		}
		k := digits(r.b, j)
		if k == j {
			r.i = k
			return nil, r.syntax("want a digit")
		}
		j = k
	}
	r.i = j
	return r.b[start:j], nil
}

// literal reads true, false or null.
func (r *jsonReader) literal(word string) error {
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		return r.syntax("want " + word)
	}
	r.i += len(word)
	return nil
}

// scalar is a value that is not an object or array.
type scalar struct {
	kind byte   // '"' string, '0' number, 't' true, 'f' false, 'n' null
	raw  []byte // the token (a string with its quotes)
}

// scalar reads a scalar value; the caller checked it is not '{' or '['.
func (r *jsonReader) scalar() (scalar, error) {
	switch c := r.peek(); c {
	case '"':
		raw, err := r.str()
		return scalar{'"', raw}, err
	case 't':
		return scalar{kind: c}, r.literal("true")
	case 'f':
		return scalar{kind: c}, r.literal("false")
	case 'n':
		return scalar{kind: c}, r.literal("null")
	}
	raw, err := r.number()
	return scalar{'0', raw}, err
}

// object reads an object, calling member for each key with the reader at
// its value (which member must read).
func (r *jsonReader) object(member func(key []byte) error) error {
	if err := r.enter('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := r.next('}', first)
		if err != nil || !more {
			return err
		}
		key, err := r.key()
		if err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
	}
}

// array reads an array, calling elem for each element (i its index) with
// the reader at it (which elem must read).
func (r *jsonReader) array(elem func(i int) error) error {
	if err := r.enter('['); err != nil {
		return err
	}
	for i := 0; ; i++ {
		more, err := r.next(']', i == 0)
		if err != nil || !more {
			return err
		}
		if err := elem(i); err != nil {
			return err
		}
	}
}

// skip reads and discards any value, checking it.
func (r *jsonReader) skip() error {
	switch r.peek() {
	case '{':
		return r.object(func([]byte) error { return r.skip() })
	case '[':
		return r.array(func(int) error { return r.skip() })
	}
	_, err := r.scalar()
	return err
}

// end checks that only whitespace follows.
func (r *jsonReader) end() error {
	if r.peek() != 0 {
		return r.syntax("want the end of the payload")
	}
	return nil
}
