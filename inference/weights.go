package inference

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// WeightStats counts the float32 weights stored in an ONNX model: its
// graph's initializers and Constant nodes' tensor values (external data is
// not read).
type WeightStats struct {
	Weights  int // float32 values
	Denormal int // non-zero values below float32's smallest normal number, 1.2e-38
}

// DenormalWarning is a sentence for the user when s has denormal weights,
// else "". Denormal weights change no output worth the name but x86 CPUs
// compute with them many times slower: a trained network with 10-20% of
// them scored a batch 4-10 times slower in ONNX Runtime (docs/models.md,
// "Bring your own model"); flushing them to 0 before export removes the
// cost.
func (s WeightStats) DenormalWarning() string {
	if s.Denormal == 0 {
		return ""
	}
	return fmt.Sprintf("%d of the model's %d weights are denormal (non-zero, below 1.2e-38): scoring can be several times slower; "+
		"set them to 0 before export (in PyTorch: p[p.abs() < torch.finfo(torch.float32).tiny] = 0 for each parameter p)",
		s.Denormal, s.Weights)
}

// ONNX protobuf field numbers read here (onnx.proto).
const (
	fieldModelGraph       = 7 // ModelProto.graph
	fieldGraphNode        = 1 // GraphProto.node
	fieldGraphInitializer = 5 // GraphProto.initializer
	fieldNodeAttribute    = 5 // NodeProto.attribute
	fieldAttributeTensor  = 5 // AttributeProto.t
	fieldTensorDataType   = 2 // TensorProto.data_type
	fieldTensorFloatData  = 4 // TensorProto.float_data
	fieldTensorRawData    = 9 // TensorProto.raw_data
	tensorFloat           = 1 // TensorProto.DataType FLOAT
)

var errONNXProto = errors.New("not a valid ONNX model file")

// ScanWeights counts onnx's float32 weights and the denormal ones. Pure
// Go (no ONNX Runtime); safe for concurrent use.
func ScanWeights(onnx []byte) (WeightStats, error) {
	var s WeightStats
	err := eachField(onnx, func(num protowire.Number, v []byte) error {
		if num != fieldModelGraph {
			return nil
		}
		return eachField(v, func(num protowire.Number, v []byte) error {
			switch num {
			case fieldGraphInitializer:
				return s.tensor(v)
			case fieldGraphNode:
				return eachField(v, func(num protowire.Number, v []byte) error {
					if num != fieldNodeAttribute {
						return nil
					}
					return eachField(v, func(num protowire.Number, v []byte) error {
						if num == fieldAttributeTensor {
							return s.tensor(v)
						}
						return nil
					})
				})
			}
			return nil
		})
	})
	if err != nil {
		return WeightStats{}, fmt.Errorf("scan model weights: %w", err)
	}
	return s, nil
}

// tensor adds the float32 values of one TensorProto.
func (s *WeightStats) tensor(b []byte) error {
	var dtype uint64
	var raw, packed []byte
	var unpacked []uint32
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errONNXProto
		}
		b = b[n:]
		switch {
		case num == fieldTensorDataType && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return errONNXProto
			}
			dtype, n = v, m
		case num == fieldTensorRawData && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errONNXProto
			}
			raw, n = v, m
		case num == fieldTensorFloatData && typ == protowire.BytesType: // packed
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errONNXProto
			}
			packed, n = append(packed, v...), m
		case num == fieldTensorFloatData && typ == protowire.Fixed32Type:
			v, m := protowire.ConsumeFixed32(b)
			if m < 0 {
				return errONNXProto
			}
			unpacked, n = append(unpacked, v), m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errONNXProto
			}
		}
		b = b[n:]
	}
	if dtype != tensorFloat {
		return nil
	}
	for _, p := range [][]byte{raw, packed} {
		for i := 0; i+4 <= len(p); i += 4 {
			s.add(binary.LittleEndian.Uint32(p[i:]))
		}
	}
	for _, u := range unpacked {
		s.add(u)
	}
	return nil
}

func (s *WeightStats) add(bits uint32) {
	s.Weights++
	if f := math.Float32frombits(bits); f != 0 && math.Abs(float64(f)) < 0x1p-126 {
		s.Denormal++
	}
}

// eachField calls fn with each length-delimited field of message b (other
// wire types are skipped).
func eachField(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errONNXProto
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errONNXProto
			}
			b = b[n:]
			continue
		}
		v, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return errONNXProto
		}
		if err := fn(num, v); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}
