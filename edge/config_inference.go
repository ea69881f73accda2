package edge

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// InferenceConfig configures local scoring. The defaults of the keys the
// engine also has are the engine's (inference.Default*).
type InferenceConfig struct {
	// ONNXRuntimeLib is the path of libonnxruntime.so (ONNX Runtime 1.24).
	// Default: $ONNXRUNTIME_LIB, else /usr/lib/edgepm/libonnxruntime.so.1,
	// else ./.local/lib/libonnxruntime.so.1 (what `make onnxruntime` installs).
	ONNXRuntimeLib string `yaml:"onnxruntime_lib"`
	// ModelDir is a model package directory (manifest.json, model.onnx,
	// manifest.sig) to serve at start-up when no model has been accepted
	// from Kafka yet. Default: the model embedded in the binary.
	ModelDir string `yaml:"model_dir"`
	// ShadowModelDir is a model package directory to score in shadow next
	// to the served model from start-up (inference.Engine.LoadShadow: it
	// must read the served model's input and pass the signature policy),
	// until a release from Kafka names another shadow or none. Default:
	// none. A package that cannot be loaded is logged and skipped.
	ShadowModelDir string `yaml:"shadow_model_dir"`
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
	// MaxDevices bounds the devices the gateway keeps any state for
	// (status, stuck-sensor check, inference window and alert state: the
	// device table, edge/devices.go); at the bound the least recently seen
	// device is evicted (counted). Default 10000. DeviceIdleTTL evicts
	// devices not seen for that long, at the next reading. Default 24h;
	// negative disables.
	MaxDevices    int           `yaml:"max_devices"`
	DeviceIdleTTL time.Duration `yaml:"device_idle_ttl"`
	// ClockResetAfter restarts a device's feature window when 3 readings
	// in a row are older than the window's newest by more than this (the
	// device's clock was set back); smaller steps back are dropped as out
	// of order.
	// Default 5m; negative never restarts.
	ClockResetAfter time.Duration `yaml:"clock_reset_after"`
	// Thresholds overrides the serving model's alert thresholds (raise,
	// clear, min_duration) until removed; reloadable with SIGHUP. Default:
	// the model manifest's.
	Thresholds *ThresholdsConfig `yaml:"thresholds"`
	// ModelName is the model (by manifest name) this gateway serves from
	// the models topic; others are ignored. Default: the first name that
	// targets this gateway, remembered in data_dir/models/.selected.
	ModelName string `yaml:"model_name"`
	// MaxStagingBytes bounds a model being received in chunks. Default 1 GiB.
	MaxStagingBytes int64 `yaml:"max_staging_bytes"`
	// DriftInterval is how often drift against the model's training
	// statistics is reported as an inference.drift event. Default 1h;
	// negative disables the events (the drift metrics stay).
	DriftInterval time.Duration `yaml:"drift_interval"`
	// DriftPSIMark is the PSI since loading above which a feature (of a
	// package with training histograms) counts as drifting. Default 0.5;
	// negative: PSI is reported but never counts.
	DriftPSIMark float64 `yaml:"drift_psi_mark"`
	// DriftMinRows is the rows served since loading before PSI counts.
	// Default 1000.
	DriftMinRows int64 `yaml:"drift_min_rows"`
	// Scoring selects how batches reach ONNX Runtime: "fast" (default)
	// scores a batch where its feature vectors were computed when it can;
	// "reference" always copies them into the input tensor. Same results.
	Scoring string `yaml:"scoring"`
}

// ThresholdsConfig is an alert threshold override.
type ThresholdsConfig struct {
	Raise       float64       `yaml:"raise"`
	Clear       float64       `yaml:"clear"`
	MinDuration time.Duration `yaml:"min_duration"`
}

func (t *ThresholdsConfig) inference() *inference.Thresholds {
	if t == nil {
		return nil
	}
	return &inference.Thresholds{Raise: t.Raise, Clear: t.Clear, MinDuration: features.Duration(t.MinDuration)}
}

func (c *InferenceConfig) setDefaults() {
	if c.MaxBatch == 0 {
		c.MaxBatch = inference.DefaultMaxBatch
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = inference.DefaultMaxDelay
	}
	if c.IntraOpThreads == 0 {
		c.IntraOpThreads = 1
	}
	if c.QueueSize == 0 {
		c.QueueSize = inference.DefaultQueueSize
	}
	if c.MaxDevices == 0 {
		c.MaxDevices = inference.DefaultMaxDevices
	}
	if c.DeviceIdleTTL == 0 {
		c.DeviceIdleTTL = inference.DefaultDeviceIdleTTL
	}
	if c.DriftInterval == 0 {
		c.DriftInterval = inference.DefaultDriftInterval
	}
	if c.DriftPSIMark == 0 {
		c.DriftPSIMark = inference.DefaultDriftPSIMark
	}
	if c.DriftMinRows == 0 {
		c.DriftMinRows = inference.DefaultDriftMinPSIRows
	}
	if c.ClockResetAfter == 0 {
		c.ClockResetAfter = inference.DefaultClockResetAfter
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
	case c.MaxDevices < 1:
		return fmt.Errorf("inference.max_devices: must be >= 1, got %d", c.MaxDevices)
	case math.IsNaN(c.DriftPSIMark) || math.IsInf(c.DriftPSIMark, 0):
		return fmt.Errorf("inference.drift_psi_mark: must be a number (negative: PSI never counts), got %g", c.DriftPSIMark)
	case c.DriftMinRows < 1:
		return fmt.Errorf("inference.drift_min_rows: must be >= 1, got %d", c.DriftMinRows)
	case c.MaxStagingBytes < 0:
		return fmt.Errorf("inference.max_staging_bytes: must be >= 0, got %d", c.MaxStagingBytes)
	case c.Scoring != "" && c.Scoring != inference.ScoringFast && c.Scoring != inference.ScoringReference:
		return fmt.Errorf("inference.scoring: must be %s or %s, got %q", inference.ScoringFast, inference.ScoringReference, c.Scoring)
	}
	if c.ModelName != "" {
		if err := modelpkg.ValidateName("name", c.ModelName); err != nil {
			return fmt.Errorf("inference.model_name: %w", err)
		}
	}
	if t := c.Thresholds; t != nil && (t.MinDuration < 0 || math.IsNaN(t.Raise) || math.IsNaN(t.Clear)) {
		return fmt.Errorf("inference.thresholds: raise and clear must be numbers and min_duration >= 0, got %+v", *t)
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

// policy is the gateway's signature policy (inference.public_keys,
// inference.allow_unsigned), built once by App and applied by the model
// watcher and the start-up loader.
func (c *InferenceConfig) policy() (modelpkg.Policy, error) {
	p := modelpkg.Policy{Keys: make([]ed25519.PublicKey, 0, len(c.PublicKeys)), AllowUnsigned: c.AllowUnsigned}
	for i, k := range c.PublicKeys {
		pk, err := decodePublicKey(k)
		if err != nil {
			return modelpkg.Policy{}, fmt.Errorf("inference.public_keys[%d]: %w", i, err)
		}
		p.Keys = append(p.Keys, pk)
	}
	return p, nil
}
