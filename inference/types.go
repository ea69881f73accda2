package inference

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"time"

	"github.com/edgepm/edgepm/inference/features"
)

// Reading is one device's sensor values at one time.
type Reading struct {
	Device string
	Time   time.Time
	Values map[string]float64
	// Class is the device class (e.g. "pump"), matched against the model's
	// targeting.device_classes; "" means unknown (always scored).
	Class string
	// Waveforms holds waveform blocks by channel (for band_energy features).
	Waveforms map[string]features.Waveform
	// Fields are the caller's labels of the device (edgepm: the topic
	// captures such as site and line), not used for scoring: the device's
	// state keeps those of the reading that created it, read-only, and its
	// alerts carry them (AlertEvent.Fields). Not copied; must not be
	// modified after Observe.
	Fields map[string]string
}

// Prediction is the model's output for one feature row.
type Prediction struct {
	Device       string
	Model        string
	ModelVersion string
	WindowEnd    time.Time // time of the newest reading in the window
	Score        float64   // output[output_index] (0 unless the manifest sets it); a failure probability in [0,1] for failure_probability models
	Outputs      []float32 // raw model outputs of this row
	FeatureHash  string    // first 16 hex chars of sha256 of the float32 LE feature bytes
	Features     []float32 // set when EngineConfig.IncludeFeatures
}

// Alert states.
const (
	AlertRaised  = "raised"
	AlertCleared = "cleared"
)

// AlertEvent is a change of a device's alert state.
type AlertEvent struct {
	Device, Model, ModelVersion string
	State                       string // AlertRaised or AlertCleared
	Score, Threshold            float64
	Time                        time.Time // window end of the prediction that changed the state
	// Fields are Reading.Fields of the reading that created the device's
	// state (nil when none), shared: do not modify.
	Fields map[string]string
}

// featureHash returns the lineage hash of a feature vector (Prediction.
// FeatureHash): the first 16 hex characters of the sha256 of its float32
// little-endian bytes. scratch (may be nil) is reused for the bytes.
func featureHash(v []float32, scratch []byte) string {
	b := scratch[:0]
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}
