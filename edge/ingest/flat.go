package ingest

import (
	"errors"
	"fmt"
)

// flatDecoder decodes FormatFlat: a JSON object of fields, or a top-level
// array of them (a batch), mapped to readings by a FlatMapping. Immutable
// and safe for concurrent use.
type flatDecoder struct {
	rules   *rules
	m       FlatMapping
	include map[string]bool // nil: every numeric or boolean field
	exclude map[string]bool
	labels  map[string]bool
}

func newFlatDecoder(r *rules, s *Subscription) Decoder {
	m := s.flatMapping()
	return &flatDecoder{rules: r, m: m, include: setOf(m.Include), exclude: setOf(m.Exclude), labels: setOf(m.Labels)}
}

func setOf(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

func (d *flatDecoder) devicesFromPayload() {}

func (d *flatDecoder) Decode(dst []Reading, src Source, payload []byte) ([]Reading, error) {
	r, err := newJSONReader(payload)
	if err != nil {
		return nil, err
	}
	switch r.peek() {
	case '{':
		rd, err := d.reading(&r, src)
		if err != nil {
			return nil, err
		}
		dst = append(dst, rd)
	case '[':
		if dst, err = d.batch(dst, &r, src); err != nil {
			return nil, err
		}
	default:
		return nil, r.syntax("want a JSON object or an array of objects")
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return dst, nil
}

// batch reads a top-level array of objects, each one reading.
func (d *flatDecoder) batch(dst []Reading, r *jsonReader, src Source) ([]Reading, error) {
	n := 0
	err := r.array(func(i int) error {
		if n = i + 1; n > d.rules.cfg.MaxBatch {
			return d.rules.batch(n)
		}
		if r.peek() != '{' {
			return invalid(ReasonMalformed, "[%d]: a batch member is an object, got JSON %s", i, jsonKind(r.peek()))
		}
		rd, err := d.reading(r, src)
		if err != nil {
			return prefixed(err, fmt.Sprintf("[%d]: ", i))
		}
		dst = append(dst, rd)
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

// prefixed puts prefix before an InvalidError's detail.
func prefixed(err error, prefix string) error {
	if err == nil {
		return nil
	}
	var ie *InvalidError
	if errors.As(err, &ie) {
		ie.Detail = prefix + ie.Detail
	}
	return err
}

// reading reads one object and maps it to a validated reading.
func (d *flatDecoder) reading(r *jsonReader, src Source) (Reading, error) {
	st := flatState{d: d, src: src}
	if err := st.object(r); err != nil {
		return Reading{}, err
	}
	return st.finish()
}

// flatState is one object being read: its fields as they are met.
type flatState struct {
	d      *flatDecoder
	src    Source
	buf    []byte // the field name prefix of nested objects
	values map[string]float64
	labels map[string]string
	device []byte
	ts     scalar
	seq    scalar
	seen   uint8 // device, ts, seq met (each at most once)

	// json: the values are also being written as a JSON object into the
	// scratch's buffer from jsonStart (Reading.ValuesJSON), so the record
	// copies them instead of formatting each number again.
	json      bool
	jsonStart int
}

const (
	seenDevice = 1 << iota
	seenTS
	seenSeq
)

// object reads an object, flattening nested objects into st.buf's prefix.
func (st *flatState) object(r *jsonReader) error {
	if err := r.enter('{'); err != nil {
		return err
	}
	base := len(st.buf)
	for first := true; ; first = false {
		more, err := r.next('}', first)
		if err != nil || !more {
			return err
		}
		key, err := r.key()
		if err != nil {
			return err
		}
		path := key
		if base > 0 {
			st.buf = append(append(st.buf[:base], st.d.m.Separator...), key...)
			path = st.buf
		}
		if err := st.member(r, path); err != nil {
			return err
		}
		st.buf = st.buf[:base]
	}
}

// member reads the value of field path.
func (st *flatState) member(r *jsonReader, path []byte) error {
	switch r.peek() {
	case '{':
		if len(st.buf) == 0 {
			st.buf = append(st.buf, path...)
		}
		return st.object(r)
	case '[':
		if st.wanted(path) {
			return invalid(ReasonWrongType, "field %q: got JSON array, want a number", path)
		}
		return r.skip()
	}
	v, err := r.scalar()
	if err != nil {
		return err
	}
	return st.leaf(path, v)
}

// wanted reports whether the mapping names path explicitly.
func (st *flatState) wanted(path []byte) bool {
	m := &st.d.m
	return string(path) == m.DeviceField || string(path) == m.TimestampField || string(path) == m.SeqField ||
		st.d.include[string(path)] || st.d.labels[string(path)]
}

// leaf maps one scalar field.
func (st *flatState) leaf(path []byte, v scalar) error {
	m := &st.d.m
	switch {
	case m.DeviceField != "" && string(path) == m.DeviceField:
		return st.special(seenDevice, path, v, &st.device)
	case string(path) == m.TimestampField:
		return st.special(seenTS, path, v, nil)
	case m.SeqField != "" && string(path) == m.SeqField:
		return st.special(seenSeq, path, v, nil)
	case st.d.labels[string(path)]:
		return st.label(path, v)
	case st.d.include != nil:
		if !st.d.include[string(path)] {
			return nil
		}
		return st.value(path, v, true)
	case st.d.exclude[string(path)]:
		return nil
	}
	return st.value(path, v, false)
}

// special keeps the device, timestamp or seq field for finish.
func (st *flatState) special(bit uint8, path []byte, v scalar, device *[]byte) error {
	if st.seen&bit != 0 {
		return invalid(ReasonMalformed, "duplicate field %q", path)
	}
	st.seen |= bit
	switch bit {
	case seenDevice:
		if v.kind == 'n' {
			st.seen &^= bit
			return nil
		}
		if v.kind != '"' {
			return invalid(ReasonWrongType, "field %q: got JSON %s, want a device id string", path, jsonKind(v.kind))
		}
		s, err := unquote(v.raw)
		*device = s
		return err
	case seenTS:
		st.ts = v
	case seenSeq:
		st.seq = v
	}
	return nil
}

// label keeps a string (or number or bool, as written) as a label.
func (st *flatState) label(path []byte, v scalar) error {
	var s []byte
	switch v.kind {
	case 'n':
		return nil
	case '"':
		var err error
		if s, err = unquote(v.raw); err != nil {
			return err
		}
	case 't':
		s = []byte("true")
	case 'f':
		s = []byte("false")
	default:
		s = v.raw
	}
	if len(s) > maxLabelLen {
		return invalid(ReasonTooLarge, "field %q: label of %d bytes, limit %d", path, len(s), maxLabelLen)
	}
	if st.labels == nil {
		st.labels = make(map[string]string, len(st.d.labels))
	}
	k := string(path)
	if _, dup := st.labels[k]; dup {
		return invalid(ReasonMalformed, "duplicate field %q", path)
	}
	st.labels[k] = string(s)
	return nil
}

// maxLabelLen is the longest label value kept, in bytes.
const maxLabelLen = 256

// value keeps a number or boolean as a value; must: a string is an error
// (the field is in include), otherwise it is ignored.
func (st *flatState) value(path []byte, v scalar, must bool) error {
	f, ok, err := st.d.rules.number("", path, v)
	if err != nil || !ok {
		if err == nil && must && v.kind == '"' {
			err = invalid(ReasonWrongType, "field %q: got JSON string, want a number or a boolean", path)
		}
		return err
	}
	if st.values == nil {
		st.values = st.src.sc.valueMapOrNew()
		st.json = st.src.sc != nil
		st.jsonStart = st.src.sc.jsonStart()
	}
	name := st.src.sc.internOrCopy(path)
	if _, dup := st.values[name]; dup {
		return invalid(ReasonMalformed, "duplicate field %q", path)
	}
	st.values[name] = f
	if st.json {
		st.json = st.src.sc.appendJSONValue(path, v)
	}
	return nil
}
