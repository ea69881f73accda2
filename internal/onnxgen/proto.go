package onnxgen

import (
	"encoding/binary"
	"math"
)

// buf is a minimal protobuf writer (proto3 wire format).
type buf []byte

const (
	wireVarint = 0
	wireI32    = 5
	wireLen    = 2
)

func (b *buf) tag(field, wire int) { b.varint(uint64(field)<<3 | uint64(wire)) }

func (b *buf) varint(v uint64) { *b = binary.AppendUvarint(*b, v) }

func (b *buf) int(field int, v int64) {
	b.tag(field, wireVarint)
	b.varint(uint64(v))
}

func (b *buf) str(field int, s string) {
	b.tag(field, wireLen)
	b.varint(uint64(len(s)))
	*b = append(*b, s...)
}

func (b *buf) bytes(field int, p []byte) {
	b.tag(field, wireLen)
	b.varint(uint64(len(p)))
	*b = append(*b, p...)
}

func (b *buf) msg(field int, m buf) { b.bytes(field, m) }

func (b *buf) float(field int, f float32) {
	b.tag(field, wireI32)
	*b = binary.LittleEndian.AppendUint32(*b, math.Float32bits(f))
}

// ONNX enum values used here (onnx.proto).
const (
	elemFloat   = 1 // TensorProto.DataType FLOAT
	elemInt64   = 7 // TensorProto.DataType INT64
	attrFloat   = 1 // AttributeProto.AttributeType FLOAT
	attrInt     = 2 // INT
	irVersion   = 8
	opsetOnnx13 = 13
)

// tensorProto encodes a float32 initializer (dims, data_type, name, raw_data).
func tensorProto(name string, dims []int64, data []float32) buf {
	var t buf
	for _, d := range dims {
		t.int(1, d)
	}
	t.int(2, elemFloat)
	t.str(8, name)
	raw := make([]byte, 0, 4*len(data))
	for _, f := range data {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
	}
	t.bytes(9, raw)
	return t
}

// valueInfo encodes a float32 tensor ValueInfoProto; a dim < 0 is symbolic
// and named by the matching entry of params.
func valueInfo(name string, dims []int64, params []string) buf {
	return typedValueInfo(name, elemFloat, dims, params)
}

// typedValueInfo is valueInfo for a tensor of element type elem.
func typedValueInfo(name string, elem int64, dims []int64, params []string) buf {
	var shape buf
	for i, d := range dims {
		var dim buf
		if d < 0 {
			dim.str(2, params[i])
		} else {
			dim.int(1, d)
		}
		shape.msg(1, dim)
	}
	var tt buf
	tt.int(1, elem)
	tt.msg(2, shape)
	var typ buf
	typ.msg(1, tt)
	var vi buf
	vi.str(1, name)
	vi.msg(2, typ)
	return vi
}

type attr struct {
	name string
	i    int64
	f    float32
	isF  bool
}

func node(op, name string, inputs, outputs []string, attrs ...attr) buf {
	var n buf
	for _, in := range inputs {
		n.str(1, in)
	}
	for _, out := range outputs {
		n.str(2, out)
	}
	n.str(3, name)
	n.str(4, op)
	for _, a := range attrs {
		var ab buf
		ab.str(1, a.name)
		if a.isF {
			ab.float(2, a.f)
			ab.int(20, attrFloat)
		} else {
			ab.int(3, a.i)
			ab.int(20, attrInt)
		}
		n.msg(5, ab)
	}
	return n
}
