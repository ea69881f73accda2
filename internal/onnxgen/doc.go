// Package onnxgen writes small ONNX models (standardised input followed by
// dense layers: logistic regression or an MLP) as ONNX protobuf bytes,
// without a protobuf dependency: the few messages needed (ModelProto,
// GraphProto, NodeProto, TensorProto, ValueInfoProto, AttributeProto) are
// encoded by hand in proto.go following onnx.proto3 field numbers.
//
// Output is deterministic: the same Model gives the same bytes. The graph
// uses opset 13 and IR version 8, a float32 input [N, F] with a dynamic batch
// dimension and a float32 output [N, K].
//
// Functions are pure and safe for concurrent use.
package onnxgen
