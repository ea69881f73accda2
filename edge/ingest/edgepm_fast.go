package ingest

import (
	"encoding/json"
	"strconv"
)

// fastDecode parses the common single-reading payload
//
//	{"ts": 1732233600123, "seq": 42, "values": {"vibration_rms": 2.31, ...}}
//
// without reflection. It accepts only a strict subset: top-level keys
// exactly "ts", "seq" and "values" (each at most once), plain ASCII strings
// without escapes, ts as an integer or such a string, seq as an unsigned
// integer, values as an object of numbers, JSON whitespace. For anything
// else (batches, waveforms, unknown or differently cased keys, escapes,
// null, overflow, syntax errors) it returns ok=false and the caller uses
// encoding/json, which then also produces the precise error. When it
// returns ok=true the result equals what json.Unmarshal would give
// (FuzzFastDecodeMatchesJSON checks this). It also keeps the bytes of the
// values object (rawValues) so the readings record can reuse them.
//
// sc, when not nil, supplies the values map and interns sensor names.
func fastDecode(b []byte, sc *scratch) (w wireReading, ok bool) {
	p := fastParser{b: b, sc: sc}
	if !p.consume('{') {
		return w, false
	}
	var seen [3]bool
	for first := true; ; first = false {
		p.ws()
		if p.peek() == '}' && first {
			p.i++
			break
		}
		p.ws()
		raw, ok := p.strRaw()
		if !ok || !p.consume(':') {
			return w, false
		}
		key := raw[1 : len(raw)-1]
		p.ws()
		switch string(key) {
		case "ts":
			if seen[0] {
				return w, false
			}
			seen[0] = true
			if w.TS, ok = p.tsValue(); !ok {
				return w, false
			}
		case "seq":
			if seen[1] {
				return w, false
			}
			seen[1] = true
			v, ok := p.uint()
			if !ok {
				return w, false
			}
			w.Seq = &v
		case "values":
			if seen[2] {
				return w, false
			}
			seen[2] = true
			start := p.i
			if w.Values, ok = p.values(); !ok {
				return w, false
			}
			w.rawValues = p.b[start:p.i]
		default:
			return w, false
		}
		p.ws()
		if p.consume(',') {
			continue
		}
		if !p.consume('}') {
			return w, false
		}
		break
	}
	p.ws()
	return w, p.i == len(p.b)
}

type fastParser struct {
	b  []byte
	i  int
	sc *scratch // nil: allocate maps and names
}

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// consume skips whitespace and then c.
func (p *fastParser) consume(c byte) bool {
	p.ws()
	if p.peek() != c {
		return false
	}
	p.i++
	return true
}

// strRaw returns the bytes of a string token including its quotes; only
// printable ASCII without escapes.
func (p *fastParser) strRaw() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	start := p.i
	for j := p.i + 1; j < len(p.b); j++ {
		c := p.b[j]
		switch {
		case c == '"':
			p.i = j + 1
			return p.b[start:p.i], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// number returns a JSON number token (strict grammar).
func (p *fastParser) number() ([]byte, bool) {
	start, j := p.i, p.i
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	switch {
	case j < len(p.b) && p.b[j] == '0':
		j++
	case j < len(p.b) && p.b[j] >= '1' && p.b[j] <= '9':
		j = digits(p.b, j)
	default:
		return nil, false
	}
	if j < len(p.b) && p.b[j] == '.' {
		k := digits(p.b, j+1)
		if k == j+1 {
			return nil, false
		}
		j = k
	}
	if j < len(p.b) && (p.b[j] == 'e' || p.b[j] == 'E') {
		j++
		if j < len(p.b) && (p.b[j] == '+' || p.b[j] == '-') {
			j++
		}
		k := digits(p.b, j)
		if k == j {
			return nil, false
		}
		j = k
	}
	p.i = j
	return p.b[start:j], true
}

func digits(b []byte, j int) int {
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	return j
}

func (p *fastParser) tsValue() (json.RawMessage, bool) {
	if p.peek() == '"' {
		raw, ok := p.strRaw()
		return json.RawMessage(raw), ok
	}
	raw, ok := p.number()
	return json.RawMessage(raw), ok
}

func (p *fastParser) uint() (uint64, bool) {
	raw, ok := p.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	return v, err == nil
}

func (p *fastParser) values() (map[string]float64, bool) {
	if !p.consume('{') {
		return nil, false
	}
	var m map[string]float64
	if p.sc != nil {
		m = p.sc.valueMap()
	} else {
		m = make(map[string]float64, 8)
	}
	p.ws()
	if p.peek() == '}' {
		p.i++
		return m, true
	}
	for {
		p.ws()
		raw, ok := p.strRaw()
		if !ok || !p.consume(':') {
			return nil, false
		}
		var k string
		if p.sc != nil {
			k = p.sc.intern(raw[1 : len(raw)-1])
		} else {
			k = string(raw[1 : len(raw)-1])
		}
		p.ws()
		num, ok := p.number()
		if !ok {
			return nil, false
		}
		v, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return nil, false // out of range: encoding/json reports it
		}
		if _, dup := m[k]; dup {
			return nil, false // keep rawValues equivalent to the map
		}
		m[k] = v
		if p.consume(',') {
			continue
		}
		if p.consume('}') {
			return m, true
		}
		return nil, false
	}
}
