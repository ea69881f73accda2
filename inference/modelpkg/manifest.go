package modelpkg

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"strings"

	"github.com/edgepm/edgepm/inference/features"
)

// SchemaVersion is the manifest schema this package reads and writes.
const SchemaVersion = 1

// Output semantics (Manifest.OutputSemantics).
const (
	SemanticsFailureProbability = "failure_probability"     // output[0] in [0,1]
	SemanticsRUL                = "remaining_useful_life_s" // output[0] in seconds (alerts when below thresholds)
	// SemanticsRULCycles is a remaining useful life counted in the
	// device's operating cycles (flights, batches, strokes), for data such
	// as NASA C-MAPSS where a cycle has no fixed duration. Alerts as for
	// SemanticsRUL, with thresholds in cycles.
	SemanticsRULCycles = "remaining_useful_life_cycles"
)

// LowIsBad reports whether a low score is the alarming end (remaining
// useful life, in seconds or cycles).
func LowIsBad(semantics string) bool {
	return semantics == SemanticsRUL || semantics == SemanticsRULCycles
}

// Manifest describes a model package. See docs/formats/model-package.md.
type Manifest struct {
	SchemaVersion   int                   `json:"schema_version"`
	Name            string                `json:"name"`
	Version         string                `json:"version"`
	Description     string                `json:"description,omitempty"`
	ONNXSHA256      string                `json:"onnx_sha256"`
	InputName       string                `json:"input_name"`
	OutputName      string                `json:"output_name"`
	OutputSemantics string                `json:"output_semantics"`
	Window          features.WindowConfig `json:"window"`
	Features        []features.Spec       `json:"features"`
	FeatureStats    []FeatureStat         `json:"feature_stats"`
	Thresholds      Thresholds            `json:"thresholds"`
	Targeting       Targeting             `json:"targeting"`
	Samples         []Sample              `json:"samples"`
	// Tolerance is the largest absolute difference allowed between a
	// sample's expected and actual outputs (0 = DefaultTolerance).
	Tolerance float64 `json:"tolerance,omitempty"`
	// Training holds free-form provenance (seed, data, metrics); not interpreted.
	Training json.RawMessage `json:"training,omitempty"`
}

// DefaultTolerance is used when Manifest.Tolerance is 0.
const DefaultTolerance = 1e-4

// FeatureStat is the training distribution of one feature.
type FeatureStat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
}

// Thresholds configure alerts with hysteresis: an alert is raised after the
// score stays >= Raise for MinDuration (by window end time) and cleared after
// it stays < Clear for MinDuration. For remaining_useful_life_s and
// remaining_useful_life_cycles the comparisons are reversed (raise when
// <= Raise, clear when > Clear).
type Thresholds struct {
	Raise       float64           `json:"raise"`
	Clear       float64           `json:"clear"`
	MinDuration features.Duration `json:"min_duration"`
}

// Targeting says where a model may serve. Empty lists mean everywhere.
// Entries are path.Match globs ("gw-*").
type Targeting struct {
	Gateways      []string `json:"gateways,omitempty"`
	DeviceClasses []string `json:"device_classes,omitempty"`
}

// Sample is an input row with the output the model must produce.
type Sample struct {
	Input  []float32 `json:"input"`
	Output []float32 `json:"output"`
}

// ID returns "name:version".
func (m *Manifest) ID() string { return m.Name + ":" + m.Version }

// DecodeManifest strictly decodes (unknown fields are errors) and validates
// a manifest. It never panics on bad input.
func DecodeManifest(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode manifest: trailing data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	return &m, nil
}

// Encode returns the manifest as indented JSON with a trailing newline
// (deterministic for the same manifest).
func (m *Manifest) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// Validate checks the manifest's own consistency, naming the bad field.
// Feature-spec problems are reported as *SpecError so callers can tell them
// apart.
func (m *Manifest) Validate() error {
	switch {
	case m.SchemaVersion != SchemaVersion:
		return fmt.Errorf("schema_version: must be %d, got %d", SchemaVersion, m.SchemaVersion)
	case m.Name == "" || m.Version == "":
		return fmt.Errorf("name, version: must not be empty")
	case !validHexSHA(m.ONNXSHA256):
		return fmt.Errorf("onnx_sha256: want 64 lowercase hex digits, got %q", m.ONNXSHA256)
	case m.InputName == "" || m.OutputName == "":
		return fmt.Errorf("input_name, output_name: must not be empty")
	case m.OutputSemantics != SemanticsFailureProbability && !LowIsBad(m.OutputSemantics):
		return fmt.Errorf("output_semantics: unknown %q", m.OutputSemantics)
	case len(m.FeatureStats) != 0 && len(m.FeatureStats) != len(m.Features):
		return fmt.Errorf("feature_stats: %d entries for %d features", len(m.FeatureStats), len(m.Features))
	case m.Tolerance < 0 || math.IsNaN(m.Tolerance):
		return fmt.Errorf("tolerance: must be >= 0, got %g", m.Tolerance)
	}
	if err := m.Thresholds.Validate(m.OutputSemantics); err != nil {
		return err
	}
	for _, g := range append(append([]string(nil), m.Targeting.Gateways...), m.Targeting.DeviceClasses...) {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("targeting: bad glob %q: %w", g, err)
		}
	}
	if len(m.Samples) == 0 {
		return fmt.Errorf("samples: at least one sample input with its expected output is required")
	}
	for i, s := range m.Samples {
		if len(s.Input) != len(m.Features) || len(s.Output) == 0 {
			return fmt.Errorf("samples[%d]: input has %d values for %d features, output %d values", i, len(s.Input), len(m.Features), len(s.Output))
		}
	}
	return m.validateSpec()
}

// SpecError reports an invalid feature spec or window.
type SpecError struct{ Err error }

func (e *SpecError) Error() string { return e.Err.Error() }
func (e *SpecError) Unwrap() error { return e.Err }

func (m *Manifest) validateSpec() error {
	if len(m.Features) == 0 {
		return &SpecError{fmt.Errorf("features: must not be empty")}
	}
	if _, err := features.NewPlan(m.Features, nil); err != nil {
		return &SpecError{err}
	}
	if err := m.Window.WithDefaults().Validate(); err != nil {
		return &SpecError{err}
	}
	return nil
}

// Validate checks the thresholds for a model of the given output semantics
// (the order of raise and clear depends on which end is alarming).
func (t Thresholds) Validate(sem string) error {
	if math.IsNaN(t.Raise) || math.IsNaN(t.Clear) || t.MinDuration < 0 {
		return fmt.Errorf("thresholds: raise/clear must be numbers and min_duration >= 0")
	}
	if sem == SemanticsFailureProbability && !(t.Clear <= t.Raise && t.Raise <= 1 && t.Clear >= 0) {
		return fmt.Errorf("thresholds: need 0 <= clear <= raise <= 1, got clear %g raise %g", t.Clear, t.Raise)
	}
	if LowIsBad(sem) && !(t.Clear >= t.Raise) {
		return fmt.Errorf("thresholds: remaining useful life needs clear >= raise, got clear %g raise %g", t.Clear, t.Raise)
	}
	return nil
}

// Imputation returns the per-feature values that stand in for a missing
// reading (the training means; 0 without feature_stats).
func (m *Manifest) Imputation() []float32 {
	f := make([]float32, len(m.Features))
	for i := range f {
		if i < len(m.FeatureStats) {
			f[i] = float32(m.FeatureStats[i].Mean)
		}
	}
	return f
}

// Targets reports whether the model may serve on gateway (empty = any).
func (t Targeting) Targets(gateway string) bool { return matchAny(t.Gateways, gateway) }

// TargetsClass reports whether the model scores devices of class ("" = unknown, always scored).
func (t Targeting) TargetsClass(class string) bool {
	return class == "" || matchAny(t.DeviceClasses, class)
}

func matchAny(globs []string, s string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

func validHexSHA(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && s == strings.ToLower(s)
}
