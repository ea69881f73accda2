package ingest

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The Sparkplug B payload is the protobuf message Payload of Eclipse Tahu's
// sparkplug_b.proto (EPL-2.0, github.com/eclipse/tahu,
// sparkplug_b/sparkplug_b.proto). It is read here field by field with
// protowire, without generated code, so that decoding a DATA message
// allocates nothing. The fields read:
//
//	Payload: 1 timestamp uint64, 2 metrics repeated Metric, 3 seq uint64,
//	         4 uuid string (5 body and extensions are skipped)
//	Metric:  1 name string, 2 alias uint64, 3 timestamp uint64,
//	         4 datatype uint32, 7 is_null bool, and the value oneof:
//	         10 int_value uint32, 11 long_value uint64, 12 float_value float,
//	         13 double_value double, 14 boolean_value bool; string, bytes,
//	         dataset, template and extension values (15 to 19) are skipped.
//	         Fields 5, 6, 8 and 9 (historical, transient, metadata,
//	         properties) are skipped.

// Sparkplug B data types (the datatype of a Metric).
const (
	spInt8     = 1
	spInt16    = 2
	spInt32    = 3
	spInt64    = 4
	spUInt8    = 5
	spUInt16   = 6
	spUInt32   = 7
	spUInt64   = 8
	spFloat    = 9
	spDouble   = 10
	spBoolean  = 11
	spDateTime = 13
)

// spCompressed is the uuid of a compressed payload (its body is a
// DEFLATE or GZIP encoded Payload), which this decoder does not read.
const spCompressed = "SPBV1.0_COMPRESSED"

// MaxSparkplugMetrics bounds the metrics of one Sparkplug payload (and so
// of one birth certificate); a payload with more is dead-lettered as
// too_large before anything beyond the bound is kept.
const MaxSparkplugMetrics = 4096

// spKind is which value of a Metric's oneof was set.
type spKind uint8

const (
	spNoValue spKind = iota
	spIntValue
	spLongValue
	spFloatValue
	spDoubleValue
	spBoolValue
	spOtherValue // string, bytes, dataset, template, extension
)

// spMetric is one Metric as read from the wire. name aliases the payload.
type spMetric struct {
	name              []byte
	alias             uint64
	datatype          uint32
	hasName, hasAlias bool
	hasType, isNull   bool
	kind              spKind
	bits              uint64 // the value: varint, or float32/float64 bits
}

// spPayload is a Payload as read from the wire; metrics is reused from
// payload to payload.
type spPayload struct {
	timestamp    uint64
	seq          uint64
	hasTimestamp bool
	hasSeq       bool
	compressed   bool
	metrics      []spMetric
}

// parse reads b into p. It returns malformed_protobuf for bytes that are
// not a Payload, too_large for more than MaxSparkplugMetrics metrics.
func (p *spPayload) parse(b []byte) error {
	*p = spPayload{metrics: p.metrics[:0]}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return spMalformed("payload", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			p.timestamp, n = protowire.ConsumeVarint(b)
			p.hasTimestamp = true
		case num == 3 && typ == protowire.VarintType:
			p.seq, n = protowire.ConsumeVarint(b)
			p.hasSeq = true
		case num == 2 && typ == protowire.BytesType:
			var m []byte
			m, n = protowire.ConsumeBytes(b)
			if n >= 0 {
				if len(p.metrics) == MaxSparkplugMetrics {
					return invalid(ReasonTooLarge, "more than %d metrics in one payload", MaxSparkplugMetrics)
				}
				p.metrics = append(p.metrics, spMetric{})
				if err := p.metrics[len(p.metrics)-1].parse(m); err != nil {
					return err
				}
			}
		case num == 4 && typ == protowire.BytesType:
			var u []byte
			u, n = protowire.ConsumeBytes(b)
			p.compressed = string(u) == spCompressed
		case num == 1 || num == 2 || num == 3 || num == 4:
			return invalid(ReasonMalformedProto, "payload field %d: wrong wire type %d", num, typ)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return spMalformed("payload", protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

// parse reads one Metric.
func (m *spMetric) parse(b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return spMalformed("metric", protowire.ParseError(n))
		}
		b = b[n:]
		if want, ok := spMetricWireType(num); ok && typ != want {
			return invalid(ReasonMalformedProto, "metric field %d: wrong wire type %d", num, typ)
		}
		var v uint64
		switch num {
		case 1:
			m.name, n = protowire.ConsumeBytes(b)
			m.hasName = true
		case 2, 4, 7, 10, 11, 14:
			v, n = protowire.ConsumeVarint(b)
			m.setVarint(num, v)
		case 12:
			var f uint32
			f, n = protowire.ConsumeFixed32(b)
			m.kind, m.bits = spFloatValue, uint64(f)
		case 13:
			m.bits, n = protowire.ConsumeFixed64(b)
			m.kind = spDoubleValue
		default:
			if num >= 15 && num <= 19 {
				m.kind = spOtherValue
			}
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return spMalformed("metric", protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

// setVarint stores a varint field of a Metric.
func (m *spMetric) setVarint(num protowire.Number, v uint64) {
	switch num {
	case 2:
		m.alias, m.hasAlias = v, true
	case 4:
		m.datatype, m.hasType = uint32(v), true
	case 7:
		m.isNull = v != 0
	case 10:
		m.kind, m.bits = spIntValue, uint64(uint32(v))
	case 11:
		m.kind, m.bits = spLongValue, v
	case 14:
		m.kind, m.bits = spBoolValue, v
	}
}

// spMetricWireType is the wire type of the Metric fields read.
func spMetricWireType(num protowire.Number) (protowire.Type, bool) {
	switch num {
	case 1:
		return protowire.BytesType, true
	case 2, 3, 4, 5, 6, 7, 10, 11, 14:
		return protowire.VarintType, true
	case 12:
		return protowire.Fixed32Type, true
	case 13:
		return protowire.Fixed64Type, true
	}
	return 0, false
}

func spMalformed(what string, err error) error {
	return invalid(ReasonMalformedProto, "%s: %v", what, err)
}

// value is the metric's value as a float64, read as datatype (the birth's
// when the metric carries none): integers by their signedness, booleans as
// 0 or 1. ok is false for a null or non-numeric metric (string, bytes,
// dataset, template, DateTime), which is not a reading value.
func (m *spMetric) value(datatype uint32) (float64, bool) {
	if m.isNull || datatype == spDateTime {
		return 0, false
	}
	switch m.kind {
	case spIntValue:
		if datatype == spInt8 || datatype == spInt16 || datatype == spInt32 {
			return float64(int32(uint32(m.bits))), true
		}
		return float64(m.bits), true
	case spLongValue:
		if datatype == spInt64 || datatype == spInt8 || datatype == spInt16 || datatype == spInt32 {
			return float64(int64(m.bits)), true
		}
		return float64(m.bits), true
	case spFloatValue:
		return float64(math.Float32frombits(uint32(m.bits))), true
	case spDoubleValue:
		return math.Float64frombits(m.bits), true
	case spBoolValue:
		if m.bits != 0 {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
