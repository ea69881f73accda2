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

// SchemaVersion is the oldest manifest schema this package reads, and the
// one it writes for a manifest that uses none of version 2's fields
// (NeededSchemaVersion), so that gateways that read only version 1 keep
// accepting such packages.
const SchemaVersion = 1

// SchemaVersion2 adds input_kind and sensors (window inputs), output_index,
// alert_when and the anomaly_score semantics. A reader accepts versions SchemaVersion..SchemaVersion2.
const SchemaVersion2 = 2

// SchemaVersion3 adds feature_stats[].hist, the training histogram drift
// is measured against (population stability index). A reader accepts
// versions SchemaVersion..SchemaVersion3.
const SchemaVersion3 = 3

// Output semantics (Manifest.OutputSemantics).
const (
	SemanticsFailureProbability = "failure_probability"     // output[0] in [0,1]
	SemanticsRUL                = "remaining_useful_life_s" // output[0] in seconds (alerts when below thresholds)
	// SemanticsRULCycles is a remaining useful life counted in the
	// device's operating cycles (flights, batches, strokes), for data such
	// as NASA C-MAPSS where a cycle has no fixed duration. Alerts as for
	// SemanticsRUL, with thresholds in cycles.
	SemanticsRULCycles = "remaining_useful_life_cycles"
	// SemanticsAnomalyScore is an unbounded score where high is anomalous
	// (an autoencoder's reconstruction error, an isolation score); alerts
	// when above the thresholds. Schema version 2.
	SemanticsAnomalyScore = "anomaly_score"
)

// Input kinds (Manifest.InputKind).
const (
	InputFeatures = "features"
	InputWindow   = "window"
)

// Alert directions (Manifest.AlertWhen): which side of the thresholds is
// alarming. Each output semantics has exactly one.
const (
	AlertAbove = "above"
	AlertBelow = "below"
)

// LowIsBad reports whether a low score is the alarming end (remaining
// useful life, in seconds or cycles).
func LowIsBad(semantics string) bool {
	return semantics == SemanticsRUL || semantics == SemanticsRULCycles
}

// AlertDirection returns the alert direction of an output semantics
// (AlertAbove or AlertBelow), or "" for an unknown semantics.
func AlertDirection(semantics string) string {
	switch {
	case LowIsBad(semantics):
		return AlertBelow
	case semantics == SemanticsFailureProbability || semantics == SemanticsAnomalyScore:
		return AlertAbove
	}
	return ""
}

// Manifest describes a model package. See docs/formats/model-package.md.
type Manifest struct {
	SchemaVersion int    `json:"schema_version"`
	Name          string `json:"name"`
	Version       string `json:"version"`
	Description   string `json:"description,omitempty"`
	ONNXSHA256    string `json:"onnx_sha256"`
	InputName     string `json:"input_name"`
	// InputKind is InputFeatures ("" too: [N, F], one value per feature) or
	// InputWindow ([N, T, S]: the count window's T = window.size readings
	// of Sensors, normalised with FeatureStats). Schema version 2.
	InputKind string `json:"input_kind,omitempty"`
	// Sensors are the S channels of a window input, in tensor order.
	Sensors         []string `json:"sensors,omitempty"`
	OutputName      string   `json:"output_name"`
	OutputSemantics string   `json:"output_semantics"`
	// OutputIndex is the column of the output tensor that is the score
	// (schema version 2; 0 = the first).
	OutputIndex int `json:"output_index,omitempty"`
	// AlertWhen states the alert direction (schema version 2; "" = the
	// semantics' own). It must agree with the semantics: it is there so
	// that a package says in plain words which side alarms.
	AlertWhen    string                `json:"alert_when,omitempty"`
	Window       features.WindowConfig `json:"window"`
	Features     []features.Spec       `json:"features"`
	FeatureStats []FeatureStat         `json:"feature_stats"`
	Thresholds   Thresholds            `json:"thresholds"`
	Targeting    Targeting             `json:"targeting"`
	Samples      []Sample              `json:"samples"`
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
	// Hist is the training histogram (schema version 3; optional): drift
	// reports its population stability index (PSI) against the served
	// values. Ignored for a window input (no drift statistics).
	Hist *Hist `json:"hist,omitempty"`
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
	if err := m.validateVersion(); err != nil {
		return err
	}
	switch {
	case m.Name == "" || m.Version == "":
		return fmt.Errorf("name, version: must not be empty")
	case !validHexSHA(m.ONNXSHA256):
		return fmt.Errorf("onnx_sha256: want 64 lowercase hex digits, got %q", m.ONNXSHA256)
	case m.InputName == "" || m.OutputName == "":
		return fmt.Errorf("input_name, output_name: must not be empty")
	case AlertDirection(m.OutputSemantics) == "":
		return fmt.Errorf("output_semantics: unknown %q", m.OutputSemantics)
	case m.AlertWhen != "" && m.AlertWhen != AlertDirection(m.OutputSemantics):
		return fmt.Errorf("alert_when: %s alerts %s the thresholds, got %q", m.OutputSemantics, AlertDirection(m.OutputSemantics), m.AlertWhen)
	case m.OutputIndex < 0:
		return fmt.Errorf("output_index: must be >= 0, got %d", m.OutputIndex)
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
	if err := m.validateStats(); err != nil {
		return err
	}
	if err := m.validateSpec(); err != nil {
		return err
	}
	for i, s := range m.Samples {
		if len(s.Input) != m.InputWidth() || len(s.Output) <= m.OutputIndex {
			return fmt.Errorf("samples[%d]: input has %d values for an input of %d, output %d values (output_index %d)", i, len(s.Input), m.InputWidth(), len(s.Output), m.OutputIndex)
		}
	}
	return nil
}

// validateVersion accepts versions 1 to 3, and a version only without the
// fields of a later one (a gateway that reads only the earlier version
// would reject them as unknown; a writer that uses them must say so).
func (m *Manifest) validateVersion() error {
	if m.SchemaVersion < SchemaVersion || m.SchemaVersion > SchemaVersion3 {
		return fmt.Errorf("schema_version: must be %d to %d, got %d", SchemaVersion, SchemaVersion3, m.SchemaVersion)
	}
	if need := m.NeededSchemaVersion(); m.SchemaVersion < need {
		if m.hasHist() && need == SchemaVersion3 {
			return fmt.Errorf("schema_version: %d, but feature_stats[].hist needs %d", m.SchemaVersion, need)
		}
		return fmt.Errorf("schema_version: %d, but input_kind, sensors, output_index, alert_when or output_semantics %q need %d", m.SchemaVersion, m.OutputSemantics, need)
	}
	return nil
}

// NeededSchemaVersion returns the oldest schema version that can express m:
// SchemaVersion3 when a feature_stats entry has a hist, SchemaVersion2
// when it uses input_kind, sensors, output_index, alert_when or
// anomaly_score, else SchemaVersion. Writers set SchemaVersion to it.
func (m *Manifest) NeededSchemaVersion() int {
	if m.hasHist() {
		return SchemaVersion3
	}
	if m.OutputIndex != 0 || m.AlertWhen != "" || m.OutputSemantics == SemanticsAnomalyScore || m.InputKind != "" || len(m.Sensors) > 0 {
		return SchemaVersion2
	}
	return SchemaVersion
}

// SetSchemaVersion does what every writer does: it sets SchemaVersion to
// NeededSchemaVersion and, from version 2 on, alert_when to the output
// semantics' direction when absent (the direction in plain words wherever
// the format can carry it).
func (m *Manifest) SetSchemaVersion() {
	m.SchemaVersion = m.NeededSchemaVersion()
	if m.SchemaVersion >= SchemaVersion2 && m.AlertWhen == "" {
		m.AlertWhen = AlertDirection(m.OutputSemantics)
	}
}

func (m *Manifest) hasHist() bool {
	for _, st := range m.FeatureStats {
		if st.Hist != nil {
			return true
		}
	}
	return false
}

// validateStats rejects feature_stats that cannot normalise or impute: a
// mean or std that is NaN or infinite, or a negative std.
func (m *Manifest) validateStats() error {
	for i, st := range m.FeatureStats {
		if math.IsNaN(st.Mean) || math.IsInf(st.Mean, 0) || math.IsNaN(st.Std) || math.IsInf(st.Std, 0) || st.Std < 0 {
			return fmt.Errorf("feature_stats[%d] (%s): mean %g std %g: need finite numbers and std >= 0", i, m.featureName(i), st.Mean, st.Std)
		}
		if st.Hist != nil {
			if err := st.Hist.validate(); err != nil {
				return fmt.Errorf("feature_stats[%d] (%s): %w", i, m.featureName(i), err)
			}
		}
	}
	return nil
}

func (m *Manifest) featureName(i int) string {
	switch {
	case m.InputKind == InputWindow && i < len(m.Sensors):
		return "sensor " + m.Sensors[i]
	case i < len(m.Features):
		return m.Features[i].String()
	}
	return "?"
}

// SpecError reports an invalid feature spec or window.
type SpecError struct{ Err error }

func (e *SpecError) Error() string { return e.Err.Error() }
func (e *SpecError) Unwrap() error { return e.Err }

func (m *Manifest) validateSpec() error {
	if err := m.Window.WithDefaults().Validate(); err != nil {
		return &SpecError{err}
	}
	switch m.InputKind {
	case "", InputFeatures:
		if len(m.Features) == 0 {
			return &SpecError{fmt.Errorf("features: must not be empty")}
		}
		if len(m.Sensors) != 0 {
			return &SpecError{fmt.Errorf("sensors: only for input_kind %s (features are the input)", InputWindow)}
		}
		if len(m.FeatureStats) != 0 && len(m.FeatureStats) != len(m.Features) {
			return fmt.Errorf("feature_stats: %d entries for %d features", len(m.FeatureStats), len(m.Features))
		}
	case InputWindow:
		if err := m.validateWindowInput(); err != nil {
			return err
		}
	default:
		return &SpecError{fmt.Errorf("input_kind: unknown %q (want %s or %s)", m.InputKind, InputFeatures, InputWindow)}
	}
	if _, err := m.Plan(); err != nil {
		return &SpecError{err}
	}
	return nil
}

// validateWindowInput checks a window input: sensors, a count window, and
// one feature_stats entry per sensor (required: they normalise the input).
func (m *Manifest) validateWindowInput() error {
	w := m.Window.WithDefaults()
	switch {
	case len(m.Features) != 0:
		return &SpecError{fmt.Errorf("features: must be empty for input_kind %s (sensors are the input)", InputWindow)}
	case w.Kind != features.KindCount:
		return &SpecError{fmt.Errorf("window.kind: input_kind %s needs a count window, got %s", InputWindow, w.Kind)}
	case len(m.FeatureStats) != len(m.Sensors):
		return fmt.Errorf("feature_stats: input_kind %s needs one {mean, std} per sensor to normalise with: %d entries for %d sensors", InputWindow, len(m.FeatureStats), len(m.Sensors))
	}
	return nil
}

// Plan returns the feature plan that computes the model's input rows:
// features with the training means as fill values, or the normalised raw
// window for input_kind window.
func (m *Manifest) Plan() (*features.Plan, error) {
	if m.InputKind != InputWindow {
		return features.NewPlan(m.Features, m.Imputation())
	}
	mean, std := make([]float64, len(m.FeatureStats)), make([]float64, len(m.FeatureStats))
	for i, st := range m.FeatureStats {
		mean[i], std[i] = st.Mean, st.Std
	}
	return features.NewRawPlan(m.Sensors, m.Window.WithDefaults().Size, mean, std)
}

// InputShape returns the shape of one input row: [F] for features, [T, S]
// for a window input.
func (m *Manifest) InputShape() []int64 {
	if m.InputKind == InputWindow {
		return []int64{int64(m.Window.WithDefaults().Size), int64(len(m.Sensors))}
	}
	return []int64{int64(len(m.Features))}
}

// InputWidth returns the number of float32 values of one input row.
func (m *Manifest) InputWidth() int {
	n := 1
	for _, d := range m.InputShape() {
		n *= int(d)
	}
	return n
}

// InputColumns names the values of one input row, in order: the feature
// specs (vibration_rms.mean), or sensor[t] for a window input with t from
// -(T-1) (oldest) to 0 (newest).
func (m *Manifest) InputColumns() []string {
	var cols []string
	if m.InputKind != InputWindow {
		for _, s := range m.Features {
			cols = append(cols, s.String())
		}
		return cols
	}
	size := m.Window.WithDefaults().Size
	for t := range size {
		for _, s := range m.Sensors {
			cols = append(cols, fmt.Sprintf("%s[%d]", s, t-(size-1)))
		}
	}
	return cols
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
	if sem == SemanticsAnomalyScore && !(t.Clear <= t.Raise) {
		return fmt.Errorf("thresholds: anomaly_score needs clear <= raise, got clear %g raise %g", t.Clear, t.Raise)
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
