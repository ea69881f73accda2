package sim

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FaultKind is a kind of misbehaviour of sensor firmware or its network.
type FaultKind int

// Fault kinds. Payload faults change one payload (FaultPayload); stream
// faults change the sequence or timing of payloads (FaultStream, Injector).
const (
	FaultNone       FaultKind = iota
	FaultMalformed            // payload: not JSON (truncated, trailing comma, single quotes, empty)
	FaultWrongType            // payload: JSON with wrong types (value as string, values as array, ts as bool, seq as string, top-level array)
	FaultNaN                  // payload: NaN, Infinity, -Infinity tokens (invalid JSON), 1e999, max float64
	FaultMissing              // payload: no "values", empty values, vibration_rms missing, empty object
	FaultOversized            // payload: valid JSON larger than OversizeBytes
	FaultSkew                 // payload: ts 24h ahead, 30 days behind, 0, in seconds, in microseconds
	FaultDuplicate            // stream: the same payload (same seq, ts) sent twice
	FaultOutOfOrder           // stream: a reading is held back and sent after the device's next one
	FaultStuck                // stream: one sensor repeats the same value for StuckFor readings
	FaultDisconnect           // stream: the client disconnects and reconnects StormCycles times
	FaultBurst                // stream: BurstSize messages sent at full speed, ignoring the rate
	faultKinds
)

var faultNames = [...]string{"none", "malformed", "wrong_type", "nan", "missing", "oversized", "skew",
	"duplicate", "out_of_order", "stuck", "disconnect", "burst"}

// faultVariants is how many payload variants FaultPayloadVariant knows.
var faultVariants = [...]int{1, 4, 5, 5, 4, 2, 5, 1, 1, 1, 1, 1}

// DefaultOversizeBytes is the size of FaultOversized payloads: 1 MiB + 1.
const DefaultOversizeBytes = 1<<20 + 1

func (k FaultKind) String() string {
	if k < 0 || k >= faultKinds {
		return "fault(" + strconv.Itoa(int(k)) + ")"
	}
	return faultNames[k]
}

// FaultKinds returns every fault kind except FaultNone, in order.
func FaultKinds() []FaultKind {
	out := make([]FaultKind, 0, faultKinds-1)
	for k := FaultNone + 1; k < faultKinds; k++ {
		out = append(out, k)
	}
	return out
}

// ParseFaultKind parses a fault name as printed by String ("nan", "out_of_order"; "-" may replace "_").
func ParseFaultKind(s string) (FaultKind, error) {
	s = strings.ReplaceAll(strings.ToLower(s), "-", "_")
	if i := slices.Index(faultNames[:], s); i > 0 {
		return FaultKind(i), nil
	}
	return FaultNone, fmt.Errorf("%w: unknown fault %q (known: %v)", ErrConfig, s, FaultKinds())
}

// IsPayloadFault reports whether the kind changes a single payload (as
// opposed to the sequence or timing of payloads).
func (k FaultKind) IsPayloadFault() bool { return k >= FaultMalformed && k <= FaultSkew }

// FaultVariants returns how many distinct payloads FaultPayloadVariant
// produces for kind (1 for stream faults).
func FaultVariants(kind FaultKind) int {
	if kind < 0 || kind >= faultKinds {
		return 1
	}
	return faultVariants[kind]
}

// FaultPayload returns exactly one faulty payload of the given kind for r
// (variant 0, see FaultPayloadVariant). For stream faults (duplicate,
// out_of_order, stuck, disconnect, burst) a single payload cannot show the
// fault: it returns EncodePayload(r); use FaultStream.
func FaultPayload(kind FaultKind, r Reading) []byte {
	return FaultPayloadVariant(kind, 0, r)
}

// FaultPayloadVariant returns variant v (taken modulo FaultVariants(kind))
// of the faulty payload of kind for r. The variants are listed with the
// FaultKind constants, in order.
func FaultPayloadVariant(kind FaultKind, v int, r Reading) []byte {
	n := FaultVariants(kind)
	v = ((v % n) + n) % n
	switch kind {
	case FaultMalformed:
		return malformed(v, r)
	case FaultWrongType:
		return wrongType(v, r)
	case FaultNaN:
		return nonFinite(v, r)
	case FaultMissing:
		return missing(v, r)
	case FaultOversized:
		return Oversized(v, r, DefaultOversizeBytes)
	case FaultSkew:
		return skewed(v, r)
	default:
		return EncodePayload(r)
	}
}

func malformed(v int, r Reading) []byte {
	p := EncodePayload(r)
	switch v {
	case 0: // truncated in the middle, as after a buffer overrun
		return p[:len(p)/2]
	case 1: // trailing comma
		return append(p[:len(p)-2], ",}}"...)
	case 2: // single quotes
		return bytes.ReplaceAll(p, []byte{'"'}, []byte{'\''})
	default: // empty payload
		return []byte{}
	}
}

// faultSensor is the sensor the payload faults tamper with: vibration_rms
// if present, else the first key in sorted order ("" for no values).
func faultSensor(r Reading) string {
	if _, ok := r.Values[SensorVibrationRMS]; ok {
		return SensorVibrationRMS
	}
	keys := sortedKeys(r.Values)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// replaceValue encodes r with the JSON number of sensor replaced by token.
func replaceValue(r Reading, sensor, token string) []byte {
	const marker = 1.2345678901234567e-300
	vals := make(map[string]float64, len(r.Values)+1)
	for k, x := range r.Values {
		vals[k] = x
	}
	if sensor == "" {
		sensor = SensorVibrationRMS
	}
	vals[sensor] = marker
	r.Values = vals
	return bytes.Replace(EncodePayload(r), appendFloat(nil, marker), []byte(token), 1)
}

func wrongType(v int, r Reading) []byte {
	s := faultSensor(r)
	switch v {
	case 0: // number as string
		return replaceValue(r, s, strconv.Quote(string(appendFloat(nil, r.Values[s]))))
	case 1: // values as array of numbers
		arr := `"ts":` + strconv.FormatInt(r.Time.UnixMilli(), 10) + `,"seq":` + strconv.FormatUint(r.Seq, 10) + `,"values":[`
		for i, k := range sortedKeys(r.Values) {
			if i > 0 {
				arr += ","
			}
			arr += string(appendFloat(nil, r.Values[k]))
		}
		return []byte("{" + arr + "]}")
	case 2: // ts as bool
		return withHeader(r, `"ts":true`)
	case 3: // seq as string
		return withHeader(r, `"ts":`+strconv.FormatInt(r.Time.UnixMilli(), 10)+`,"seq":"`+strconv.FormatUint(r.Seq, 10)+`"`)
	default: // top-level array
		return append(append([]byte{'['}, EncodePayload(r)...), ']')
	}
}

// withHeader encodes r's values after a custom header (the fields before "values").
func withHeader(r Reading, header string) []byte {
	p := append([]byte{'{'}, header...)
	p = append(p, `,"values":`...)
	p = appendValues(p, r.Values)
	return append(p, '}')
}

func nonFinite(v int, r Reading) []byte {
	tokens := [...]string{"NaN", "Infinity", "-Infinity", "1e999", "1.7976931348623157e308"}
	return replaceValue(r, faultSensor(r), tokens[v])
}

func missing(v int, r Reading) []byte {
	switch v {
	case 0: // no values
		return []byte(`{"ts":` + strconv.FormatInt(r.Time.UnixMilli(), 10) + `,"seq":` + strconv.FormatUint(r.Seq, 10) + `}`)
	case 1: // empty values
		r.Values = nil
		return EncodePayload(r)
	case 2: // vibration_rms missing
		vals := make(map[string]float64, len(r.Values))
		for k, x := range r.Values {
			if k != SensorVibrationRMS {
				vals[k] = x
			}
		}
		r.Values = vals
		return EncodePayload(r)
	default:
		return []byte("{}")
	}
}

// Oversized returns a valid payload of r padded to at least size bytes:
// variant 0 with a "pad" string field, variant 1 with extra numeric
// sensors "x00000", "x00001", ... in "values".
func Oversized(variant int, r Reading, size int) []byte {
	p := EncodePayload(r)
	if variant%2 == 0 {
		head := append(p[:len(p)-1:len(p)-1], `,"pad":"`...)
		need := max(size-len(head)-2, 0)
		head = append(head, bytes.Repeat([]byte{'A'}, need)...)
		return append(head, `"}`...)
	}
	vals := make(map[string]float64, len(r.Values)+size/14)
	for k, x := range r.Values {
		vals[k] = x
	}
	// Each extra key takes 15 bytes ("x0000000":0.5,), so one pass nearly
	// always suffices.
	for next := 0; len(p) < size; {
		for n := next + (size-len(p))/15 + 1; next < n; next++ {
			vals[fmt.Sprintf("x%07d", next)] = 0.5
		}
		r.Values = vals
		p = AppendPayload(p[:0], r)
	}
	return p
}

func skewed(v int, r Reading) []byte {
	switch v {
	case 0:
		r.Time = r.Time.Add(24 * time.Hour)
	case 1:
		r.Time = r.Time.Add(-30 * 24 * time.Hour)
	case 2:
		return withHeader(r, `"ts":0,"seq":`+strconv.FormatUint(r.Seq, 10))
	case 3:
		return withHeader(r, `"ts":`+strconv.FormatInt(r.Time.Unix(), 10)+`,"seq":`+strconv.FormatUint(r.Seq, 10))
	default:
		return withHeader(r, `"ts":`+strconv.FormatInt(r.Time.UnixMicro(), 10)+`,"seq":`+strconv.FormatUint(r.Seq, 10))
	}
	return EncodePayload(r)
}

// FaultStream returns the payloads a device sends for rs (one device, in
// order) with exactly one fault of kind injected at the start: payload
// faults replace the first payload; duplicate sends the first payload
// twice; out_of_order swaps the first two; stuck freezes vibration_rms (or
// the first sensor) at rs[0]'s value in every reading; disconnect and
// burst do not change payloads (they are about the connection and timing)
// and return the plain encoding.
func FaultStream(kind FaultKind, rs []Reading) [][]byte {
	out := make([][]byte, 0, len(rs)+1)
	for _, r := range rs {
		out = append(out, EncodePayload(r))
	}
	if len(rs) == 0 {
		return out
	}
	switch {
	case kind.IsPayloadFault():
		out[0] = FaultPayload(kind, rs[0])
	case kind == FaultDuplicate:
		out = slices.Insert(out, 0, slices.Clone(out[0]))
	case kind == FaultOutOfOrder && len(out) > 1:
		out[0], out[1] = out[1], out[0]
	case kind == FaultStuck:
		s := faultSensor(rs[0])
		for i := range rs {
			out[i] = EncodePayload(stuckReading(rs[i], s, rs[0].Values[s]))
		}
	}
	return out
}

// stuckReading returns r with sensor replaced by value (a copy of Values).
func stuckReading(r Reading, sensor string, value float64) Reading {
	vals := make(map[string]float64, len(r.Values))
	for k, x := range r.Values {
		vals[k] = x
	}
	vals[sensor] = value
	r.Values = vals
	return r
}
