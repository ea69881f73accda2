package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

func TestDefaultIsConsistent(t *testing.T) {
	m, o := Default()
	if len(m) == 0 || len(o) == 0 {
		t.Fatal("default model missing")
	}
	var man struct {
		Name       string `json:"name"`
		ONNXSHA256 string `json:"onnx_sha256"`
	}
	if err := json.Unmarshal(m, &man); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(o)
	if man.ONNXSHA256 != hex.EncodeToString(sum[:]) || man.Name == "" {
		t.Fatalf("manifest sha %s does not match model.onnx", man.ONNXSHA256)
	}
}
