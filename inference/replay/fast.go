package replay

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeFast decodes the layout wire.AppendReading writes (no whitespace;
// keys v, gateway, device, fields, ts, received, device_seq, values, each
// at most once; strings without escapes; integers for v, ts, received and
// device_seq) into dst, giving exactly what encoding/json gives. It
// returns false for anything else, and the caller decodes with
// encoding/json (FuzzDecodeFast checks the two agree). It exists because
// encoding/json's reflection is most of the cost of training from Kafka.
func decodeFast(b []byte, dst *Reading) bool {
	p := fastParser{b: b}
	values := dst.Values
	if values == nil {
		values = map[string]float64{}
	}
	clear(values)
	var device string
	var ts int64
	var seen uint8
	if !p.eat('{') {
		return false
	}
	for first := true; !p.eat('}'); first = false {
		if !first && !p.eat(',') {
			return false
		}
		key, ok := p.str()
		if !ok || !p.eat(':') {
			return false
		}
		bit, ok := fastKeys[string(key)]
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		switch string(key) {
		case "v", "received":
			_, ok = p.int()
		case "device_seq":
			var v int64
			v, ok = p.int()
			ok = ok && v >= 0
		case "ts":
			ts, ok = p.int()
		case "gateway":
			_, ok = p.str()
		case "device":
			var s []byte
			s, ok = p.str()
			device = string(s)
		case "fields":
			ok = p.object(func(k []byte) bool { _, ok := p.str(); return ok })
		case "values":
			ok = p.object(func(k []byte) bool {
				v, ok := p.float()
				values[dst.intern(k)] = v
				return ok
			})
		}
		if !ok {
			return false
		}
	}
	if p.i != len(b) || device == "" {
		return false
	}
	if seen&fastKeys["values"] == 0 {
		values = dst.Values // json leaves the map alone (cleared, or nil)
	}
	*dst = Reading{Device: device, Time: time.UnixMilli(ts), Values: values, names: dst.names}
	return true
}

// intern returns the sensor name k as a string, without allocating for
// the names seen before (at most maxNames of them are kept).
func (r *Reading) intern(k []byte) string {
	if s, ok := r.names[string(k)]; ok {
		return s
	}
	s := string(k)
	if r.names == nil {
		r.names = map[string]string{}
	}
	if len(r.names) < maxNames {
		r.names[s] = s
	}
	return s
}

// maxNames bounds the sensor names a Reading reused by DecodeReading keeps.
const maxNames = 1024

var fastKeys = map[string]uint8{"v": 1, "gateway": 2, "device": 4, "fields": 8, "ts": 16, "received": 32, "device_seq": 64, "values": 128}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters, valid UTF-8.
func (p *fastParser) str() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	end := bytes.IndexByte(p.b[p.i:], '"')
	if end < 0 {
		return nil, false
	}
	s := p.b[p.i : p.i+end]
	for _, c := range s {
		if c < 0x20 || c == '\\' {
			return nil, false
		}
	}
	if !utf8.Valid(s) {
		return nil, false
	}
	p.i += end + 1
	return s, true
}

// object reads {"key":VALUE,...}, VALUE read by fn.
func (p *fastParser) object(fn func(key []byte) bool) bool {
	if !p.eat('{') {
		return false
	}
	for first := true; !p.eat('}'); first = false {
		if !first && !p.eat(',') {
			return false
		}
		k, ok := p.str()
		if !ok || !p.eat(':') || !fn(k) {
			return false
		}
	}
	return true
}

// number returns the JSON number at p.i: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *fastParser) number() (tok []byte, integer, ok bool) {
	start := p.i
	p.eat('-')
	if p.eat('0') {
	} else if p.digits() == 0 {
		return nil, false, false
	}
	integer = true
	if p.eat('.') {
		integer = false
		if p.digits() == 0 {
			return nil, false, false
		}
	}
	if p.eat('e') || p.eat('E') {
		integer = false
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return nil, false, false
		}
	}
	return p.b[start:p.i], integer, true
}

func (p *fastParser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

func (p *fastParser) int() (int64, bool) {
	tok, integer, ok := p.number()
	if !ok || !integer {
		return 0, false
	}
	v, err := strconv.ParseInt(string(tok), 10, 64)
	return v, err == nil
}

func (p *fastParser) float() (float64, bool) {
	tok, _, ok := p.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	return v, err == nil
}
