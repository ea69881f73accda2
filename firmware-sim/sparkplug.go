package sim

import (
	"math"
	"slices"
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

// FormatSparkplugB is Eclipse Sparkplug B (Tahu protobuf): the simulated
// line is one edge node (group = site, edge node = line), each machine a
// device of it. The topic template is not used.
const FormatSparkplugB = "sparkplug_b"

// sparkplugEncoder writes one edge node's Sparkplug B session: NBIRTH
// (bdSeq 0) before the first message, a DBIRTH defining a device's metrics
// (aliases 1..n in name order, Double) before its first data and again
// when it reports a sensor its birth did not define, then DDATA with
// aliases only. seq counts every message after NBIRTH, 0 to 255.
type sparkplugEncoder struct {
	group, node string
	born        bool
	seq         uint64
	devices     map[string]*sparkplugDevice
	names       []string // scratch
	metrics     []SparkplugMetric
}

type sparkplugDevice struct {
	aliases map[string]uint64
}

func newSparkplugEncoder(cfg PublisherConfig) Encoder {
	group, node := cfg.Site, cfg.Line
	if group == "" {
		group = DefaultSite
	}
	if node == "" {
		node = DefaultLine
	}
	return &sparkplugEncoder{group: group, node: node, devices: map[string]*sparkplugDevice{}}
}

func (e *sparkplugEncoder) topic(kind, device string) string {
	t := "spBv1.0/" + e.group + "/" + kind + "/" + e.node
	if device != "" {
		t += "/" + device
	}
	return t
}

// Encode appends the messages of reading r (the topic is not used).
func (e *sparkplugEncoder) Encode(msgs []Message, _ string, r Reading) []Message {
	if !e.born {
		e.born, e.seq = true, 0
		bd := []SparkplugMetric{{Name: "bdSeq", Type: SparkplugUInt64}}
		msgs = append(msgs, Message{Topic: e.topic("NBIRTH", ""), Payload: AppendSparkplugPayload(nil, r.Time, 0, bd)})
	}
	d := e.devices[r.Device]
	if d == nil || !d.defines(r.Values) {
		d = e.birth(r.Values)
		e.devices[r.Device] = d
		msgs = append(msgs, Message{Topic: e.topic("DBIRTH", r.Device), Payload: AppendSparkplugPayload(nil, r.Time, e.next(), e.metrics)})
	}
	e.metrics = e.metrics[:0]
	for name, v := range r.Values {
		e.metrics = append(e.metrics, SparkplugMetric{Alias: d.aliases[name], HasAlias: true, Type: SparkplugDouble, Value: v})
	}
	return append(msgs, Message{Topic: e.topic("DDATA", r.Device), Payload: AppendSparkplugPayload(nil, r.Time, e.next(), e.metrics)})
}

func (e *sparkplugEncoder) next() uint64 {
	e.seq = (e.seq + 1) % 256
	return e.seq
}

// birth defines the sensors of values, aliases in name order, and leaves
// the DBIRTH metrics in e.metrics.
func (e *sparkplugEncoder) birth(values map[string]float64) *sparkplugDevice {
	e.names = e.names[:0]
	for name := range values {
		e.names = append(e.names, name)
	}
	slices.Sort(e.names)
	d := &sparkplugDevice{aliases: make(map[string]uint64, len(e.names))}
	e.metrics = e.metrics[:0]
	for i, name := range e.names {
		d.aliases[name] = uint64(i + 1)
		e.metrics = append(e.metrics, SparkplugMetric{Name: name, Alias: uint64(i + 1), HasAlias: true, Type: SparkplugDouble, Value: values[name]})
	}
	return d
}

func (d *sparkplugDevice) defines(values map[string]float64) bool {
	for name := range values {
		if _, ok := d.aliases[name]; !ok {
			return false
		}
	}
	return true
}
