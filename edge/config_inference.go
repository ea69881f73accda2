package edge

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// InferenceConfig configures local scoring.
type InferenceConfig struct {
	// ONNXRuntimeLib is the path of libonnxruntime.so (ONNX Runtime 1.24).
	// Default: $ONNXRUNTIME_LIB, else /usr/lib/edgepm/libonnxruntime.so.1,
	// else ./.local/lib/libonnxruntime.so.1 (what `make onnxruntime` installs).
	ONNXRuntimeLib string `yaml:"onnxruntime_lib"`
	// ModelDir is a model package directory (manifest.json, model.onnx,
	// manifest.sig) to serve at start-up when no model has been accepted
	// from Kafka yet. Default: the model embedded in the binary.
	ModelDir string `yaml:"model_dir"`
	// PublicKeys are the ed25519 keys (base64, as `edgepm keygen` prints)
	// that may sign models.
	PublicKeys []string `yaml:"public_keys"`
	// AllowUnsigned serves models without a valid signature. DEVELOPMENT
	// ONLY: anyone who can write to the models topic can then run code-free
	// but arbitrary models on the gateway. Default false.
	AllowUnsigned bool `yaml:"allow_unsigned"`
	// MaxBatch is the most rows in one ONNX Run. Default 256.
	MaxBatch int `yaml:"max_batch"`
	// MaxDelay is the longest a ready window waits for its batch to fill.
	// Default 2ms.
	MaxDelay time.Duration `yaml:"max_delay"`
	// IntraOpThreads for ONNX Runtime. Default 1 (small gateways).
	IntraOpThreads int `yaml:"intra_op_threads"`
	// QueueSize bounds windows waiting for scoring; when full, ingest waits.
	// Default 4096.
	QueueSize int `yaml:"queue_size"`
}

func (c *InferenceConfig) setDefaults() {
	if c.MaxBatch == 0 {
		c.MaxBatch = 256
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = 2 * time.Millisecond
	}
	if c.IntraOpThreads == 0 {
		c.IntraOpThreads = 1
	}
	if c.QueueSize == 0 {
		c.QueueSize = 4096
	}
}

func (c *InferenceConfig) validate() error {
	switch {
	case c.MaxBatch < 1 || c.MaxBatch > 4096:
		return fmt.Errorf("inference.max_batch: must be 1..4096, got %d", c.MaxBatch)
	case c.MaxDelay < 0:
		return fmt.Errorf("inference.max_delay: must be >= 0, got %s", c.MaxDelay)
	case c.IntraOpThreads < 1:
		return fmt.Errorf("inference.intra_op_threads: must be >= 1, got %d", c.IntraOpThreads)
	case c.QueueSize < 1:
		return fmt.Errorf("inference.queue_size: must be >= 1, got %d", c.QueueSize)
	}
	for i, k := range c.PublicKeys {
		if _, err := decodePublicKey(k); err != nil {
			return fmt.Errorf("inference.public_keys[%d]: %w", i, err)
		}
	}
	return nil
}

func decodePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 public key is %d bytes, got %d", ed25519.PublicKeySize, len(b))
	}
	return ed25519.PublicKey(b), nil
}

func (c *InferenceConfig) publicKeys() ([]ed25519.PublicKey, error) {
	out := make([]ed25519.PublicKey, 0, len(c.PublicKeys))
	for i, k := range c.PublicKeys {
		pk, err := decodePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("inference.public_keys[%d]: %w", i, err)
		}
		out = append(out, pk)
	}
	return out, nil
}
