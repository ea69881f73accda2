package modelpkg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"gopkg.in/yaml.v3"

	"github.com/edgepm/edgepm/inference/features"
)

// BuildSpec is what a data scientist writes next to an exported .onnx file
// for `edgepm model build` (YAML or JSON; docs/models.md, "Bring your own
// model"). Manifest turns it into a manifest; the builder adds the ONNX
// digest, computed feature_stats and the sample outputs.
type BuildSpec struct {
	Name        string                `json:"name"`
	Version     string                `json:"version"`
	Description string                `json:"description,omitempty"`
	Window      features.WindowConfig `json:"window"`
	Input       SpecInput             `json:"input"`
	Output      SpecOutput            `json:"output"`
	Thresholds  Thresholds            `json:"thresholds"`
	Targeting   Targeting             `json:"targeting"`
	// FeatureStats may be given; else the builder computes them from
	// training readings (--train).
	FeatureStats []FeatureStat `json:"feature_stats,omitempty"`
	// Samples are input rows whose outputs the builder records; when empty
	// it takes rows from the training readings, or the feature means.
	Samples   [][]float32     `json:"samples,omitempty"`
	Tolerance float64         `json:"tolerance,omitempty"`
	Training  json.RawMessage `json:"training,omitempty"`
}

// SpecInput names the graph's input and what is fed to it: features
// (kind features, the default) or the normalised window of sensors (kind
// window).
type SpecInput struct {
	Name     string          `json:"name"`
	Kind     string          `json:"kind,omitempty"`
	Features []features.Spec `json:"features,omitempty"`
	Sensors  []string        `json:"sensors,omitempty"`
}

// SpecOutput names the graph's output, the column that is the score, what
// the score means and which side of the thresholds alarms.
type SpecOutput struct {
	Name      string `json:"name"`
	Index     int    `json:"index,omitempty"`
	Semantics string `json:"semantics"`
	// Alert is "above" or "below"; required, and must agree with Semantics.
	Alert string `json:"alert"`
}

// DecodeBuildSpec strictly decodes a build spec (YAML, of which JSON is a
// subset): unknown keys and values of the wrong kind are errors naming the
// key.
func DecodeBuildSpec(b []byte) (*BuildSpec, error) {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("model spec: %w", err)
	}
	if !finiteTree(v) {
		return nil, fmt.Errorf("model spec: a number is NaN or infinite (feature_stats, samples, thresholds and tolerance must be finite)")
	}
	jb, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("model spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(jb))
	dec.DisallowUnknownFields()
	var s BuildSpec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("model spec: %w", userJSONError(err))
	}
	return &s, nil
}

// finiteTree reports whether every number in a decoded YAML tree is finite
// (YAML has .nan and .inf; JSON cannot carry them).
func finiteTree(v any) bool {
	switch x := v.(type) {
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case []any:
		for _, e := range x {
			if !finiteTree(e) {
				return false
			}
		}
	case map[string]any:
		for _, e := range x {
			if !finiteTree(e) {
				return false
			}
		}
	}
	return true
}

// userJSONError rewrites a type error in the spec's terms (the key and the
// kind of value) rather than Go's.
func userJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s: got a %s, want a %s", te.Field, te.Value, kindName(te.Type.Kind().String()))
	}
	return err
}

func kindName(k string) string {
	switch k {
	case "int", "int64", "float32", "float64", "uint64":
		return "number"
	case "slice":
		return "list"
	case "struct", "map":
		return "mapping"
	}
	return k
}

// Manifest returns the manifest the spec describes, at the oldest schema
// version that can express it, with feature_stats and samples as given
// (the builder fills them in) and no onnx_sha256 yet. It checks what the
// spec alone can tell, naming the spec's keys.
func (s *BuildSpec) Manifest() (*Manifest, error) {
	o := s.Output
	dir := AlertDirection(o.Semantics)
	switch {
	case s.Name == "" || s.Version == "":
		return nil, fmt.Errorf("model spec: name, version: must not be empty")
	case s.Input.Name == "" || o.Name == "":
		return nil, fmt.Errorf("model spec: input.name, output.name: must not be empty")
	case s.Input.Kind != "" && s.Input.Kind != InputFeatures && s.Input.Kind != InputWindow:
		return nil, fmt.Errorf("model spec: input.kind: unknown %q (want %s or %s)", s.Input.Kind, InputFeatures, InputWindow)
	case s.Input.Kind == InputWindow && (len(s.Input.Sensors) == 0 || len(s.Input.Features) != 0):
		return nil, fmt.Errorf("model spec: input.kind window: list input.sensors (and no input.features)")
	case s.Input.Kind != InputWindow && (len(s.Input.Features) == 0 || len(s.Input.Sensors) != 0):
		return nil, fmt.Errorf("model spec: input.features: must not be empty (input.sensors are for input.kind window)")
	case dir == "":
		return nil, fmt.Errorf("model spec: output.semantics: unknown %q (want %s, %s, %s or %s)", o.Semantics,
			SemanticsFailureProbability, SemanticsRUL, SemanticsRULCycles, SemanticsAnomalyScore)
	case o.Alert == "":
		return nil, fmt.Errorf("model spec: output.alert: say above or below (%s alerts %s the thresholds)", o.Semantics, dir)
	case o.Alert != dir:
		return nil, fmt.Errorf("model spec: output.alert is %q, but %s alerts %s the thresholds", o.Alert, o.Semantics, dir)
	}
	m := &Manifest{Name: s.Name, Version: s.Version, Description: s.Description, InputName: s.Input.Name,
		InputKind: s.Input.Kind, Sensors: s.Input.Sensors,
		OutputName: o.Name, OutputSemantics: o.Semantics, OutputIndex: o.Index, Window: s.Window,
		Features: s.Input.Features, FeatureStats: s.FeatureStats, Thresholds: s.Thresholds,
		Targeting: s.Targeting, Tolerance: s.Tolerance, Training: s.Training}
	if m.InputKind == InputFeatures {
		m.InputKind = "" // the default, and a version-1 manifest
	}
	if n := len(m.StatNames()); len(s.FeatureStats) != 0 && len(s.FeatureStats) != n {
		return nil, fmt.Errorf("model spec: feature_stats has %d entries for %d inputs", len(s.FeatureStats), n)
	}
	m.SetSchemaVersion() // o.Alert, checked above, is the semantics' direction
	return m, nil
}

// StatNames names the columns feature_stats describe, in order: the
// features (vibration_rms.mean), or the sensors of a window input.
func (m *Manifest) StatNames() []string {
	if m.InputKind == InputWindow {
		return m.Sensors
	}
	var names []string
	for _, s := range m.Features {
		names = append(names, s.String())
	}
	return names
}

// StatsOf returns the mean and population std of each column of rows (one
// value per name), the manifest's feature_stats. It fails without rows or
// when a column's statistics are not finite, naming the column.
func StatsOf(rows [][]float32, names []string) ([]FeatureStat, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("feature_stats: no training rows")
	}
	f := len(names)
	sum, sq := make([]float64, f), make([]float64, f)
	for i, r := range rows {
		if len(r) != f {
			return nil, fmt.Errorf("feature_stats: row %d has %d values for %d features", i, len(r), f)
		}
		for j, v := range r {
			sum[j] += float64(v)
		}
	}
	n := float64(len(rows))
	for _, r := range rows {
		for j, v := range r {
			d := float64(v) - sum[j]/n
			sq[j] += d * d
		}
	}
	st := make([]FeatureStat, f)
	for j := range st {
		st[j] = FeatureStat{Mean: sum[j] / n, Std: math.Sqrt(sq[j] / n)}
		if math.IsNaN(st[j].Mean) || math.IsInf(st[j].Mean, 0) || math.IsInf(st[j].Std, 0) {
			return nil, fmt.Errorf("feature_stats[%d] (%s): mean %g std %g over %d rows: not finite", j, names[j], st[j].Mean, st[j].Std, len(rows))
		}
	}
	return st, nil
}
