package sim

import (
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Sparkplug B data types (Eclipse Tahu sparkplug_b.proto).
const (
	SparkplugInt32   = 3
	SparkplugInt64   = 4
	SparkplugUInt64  = 8
	SparkplugFloat   = 9
	SparkplugDouble  = 10
	SparkplugBoolean = 11
	SparkplugString  = 12
)

// SparkplugMetric is one metric of a Sparkplug B payload.
type SparkplugMetric struct {
	Name     string // "" sends the alias only (data after a birth)
	Alias    uint64
	HasAlias bool
	Type     uint32  // a Sparkplug* data type
	Value    float64 // the value of a numeric or boolean (non-zero: true) type
	Text     string  // the value of SparkplugString
	Null     bool    // is_null, no value
}

// AppendSparkplugPayload appends the Sparkplug B Payload (Tahu protobuf)
// of the metrics, with timestamp ts (omitted when zero) and seq, to dst.
func AppendSparkplugPayload(dst []byte, ts time.Time, seq uint64, metrics []SparkplugMetric) []byte {
	if !ts.IsZero() {
		dst = protowire.AppendTag(dst, 1, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(ts.UnixMilli()))
	}
	for i := range metrics {
		dst = protowire.AppendTag(dst, 2, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(sizeSparkplugMetric(&metrics[i])))
		dst = appendSparkplugMetric(dst, &metrics[i])
	}
	dst = protowire.AppendTag(dst, 3, protowire.VarintType)
	return protowire.AppendVarint(dst, seq)
}

func appendSparkplugMetric(dst []byte, m *SparkplugMetric) []byte {
	if m.Name != "" {
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendString(dst, m.Name)
	}
	if m.HasAlias {
		dst = protowire.AppendTag(dst, 2, protowire.VarintType)
		dst = protowire.AppendVarint(dst, m.Alias)
	}
	if m.Name != "" { // the data type goes with the birth
		dst = protowire.AppendTag(dst, 4, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(m.Type))
	}
	if m.Null {
		dst = protowire.AppendTag(dst, 7, protowire.VarintType)
		return protowire.AppendVarint(dst, 1)
	}
	switch m.Type {
	case SparkplugInt32:
		dst = protowire.AppendTag(dst, 10, protowire.VarintType)
		return protowire.AppendVarint(dst, uint64(uint32(int32(m.Value))))
	case SparkplugInt64, SparkplugUInt64:
		dst = protowire.AppendTag(dst, 11, protowire.VarintType)
		return protowire.AppendVarint(dst, uint64(int64(m.Value)))
	case SparkplugFloat:
		dst = protowire.AppendTag(dst, 12, protowire.Fixed32Type)
		return protowire.AppendFixed32(dst, math.Float32bits(float32(m.Value)))
	case SparkplugBoolean:
		dst = protowire.AppendTag(dst, 14, protowire.VarintType)
		return protowire.AppendVarint(dst, protowire.EncodeBool(m.Value != 0))
	case SparkplugString:
		dst = protowire.AppendTag(dst, 15, protowire.BytesType)
		return protowire.AppendString(dst, m.Text)
	default:
		dst = protowire.AppendTag(dst, 13, protowire.Fixed64Type)
		return protowire.AppendFixed64(dst, math.Float64bits(m.Value))
	}
}

func sizeSparkplugMetric(m *SparkplugMetric) int {
	var buf [64]byte
	if len(m.Name)+len(m.Text) > 32 {
		return len(appendSparkplugMetric(nil, m))
	}
	return len(appendSparkplugMetric(buf[:0], m))
}
