package modelpkg

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/features"
)

// TestSchemaVersion2 covers the version-2 fields: a version-1 package
// still decodes unchanged; output_index, alert_when and anomaly_score need
// version 2; alert_when must agree with the semantics.
func TestSchemaVersion2(t *testing.T) {
	pkg := testPackage(t, "m", "1", 4)
	v1, err := pkg.Decode()
	if err != nil || v1.SchemaVersion != SchemaVersion || v1.NeededSchemaVersion() != SchemaVersion {
		t.Fatalf("version 1 package: %v, version %d", err, v1.SchemaVersion)
	}
	if b, _ := v1.Encode(); string(b) != string(pkg.Manifest) {
		t.Fatal("re-encoding a version 1 manifest changed it (new fields must be omitted when unset)")
	}
	cases := []struct {
		name string
		edit func(m *Manifest)
		want string // "" = valid
	}{
		{"index in v1", func(m *Manifest) { m.OutputIndex = 1 }, "schema_version: 1, but input_kind, sensors, output_index"},
		{"v2 without its fields", func(m *Manifest) { m.SchemaVersion = 2 }, ""},
		{"index beyond samples", func(m *Manifest) { m.SchemaVersion, m.OutputIndex = 2, 1 }, "output 1 values (output_index 1)"},
		{"negative index", func(m *Manifest) { m.SchemaVersion, m.OutputIndex = 2, -1 }, "output_index: must be >= 0"},
		{"alert agrees", func(m *Manifest) { m.SchemaVersion, m.AlertWhen = 2, AlertAbove }, ""},
		{"alert disagrees", func(m *Manifest) { m.SchemaVersion, m.AlertWhen = 2, AlertBelow }, "failure_probability alerts above"},
		{"alert in v1", func(m *Manifest) { m.AlertWhen = AlertAbove }, "need 2"},
		{"anomaly v1", func(m *Manifest) { m.OutputSemantics = SemanticsAnomalyScore }, "need 2"},
		{"anomaly v2", func(m *Manifest) {
			m.SchemaVersion, m.OutputSemantics, m.Thresholds = 2, SemanticsAnomalyScore, Thresholds{Raise: 40, Clear: 30}
		}, ""},
		{"anomaly clear > raise", func(m *Manifest) {
			m.SchemaVersion, m.OutputSemantics, m.Thresholds = 2, SemanticsAnomalyScore, Thresholds{Raise: 3, Clear: 30}
		}, "anomaly_score needs clear <= raise"},
		{"version 4", func(m *Manifest) { m.SchemaVersion = 4 }, "schema_version: must be 1 to 3"},
		{"hist in version 2", func(m *Manifest) {
			m.FeatureStats[0].Hist = &Hist{Edges: []float64{1}, Shares: []float64{0.5, 0.5}}
		}, "feature_stats[].hist needs 3"},
		{"hist in version 3", func(m *Manifest) {
			m.SchemaVersion, m.FeatureStats[0].Hist = 3, &Hist{Edges: []float64{1, 2}, Shares: []float64{0.2, 0.3, 0.5}}
		}, ""},
		{"hist edges not increasing", func(m *Manifest) {
			m.SchemaVersion, m.FeatureStats[1].Hist = 3, &Hist{Edges: []float64{2, 2}, Shares: []float64{0.2, 0.3, 0.5}}
		}, "feature_stats[1] (bearing_temp_c.mean): hist: edges must be finite and strictly increasing, edge 1 is 2"},
		{"hist NaN edge", func(m *Manifest) {
			m.SchemaVersion, m.FeatureStats[0].Hist = 3, &Hist{Edges: []float64{math.NaN()}, Shares: []float64{0.5, 0.5}}
		}, "edges must be finite"},
		{"hist shares count", func(m *Manifest) {
			m.SchemaVersion, m.FeatureStats[0].Hist = 3, &Hist{Edges: []float64{1}, Shares: []float64{1}}
		}, "1 shares for 1 edges, want one per bin (2)"},
		{"hist shares sum", func(m *Manifest) {
			m.SchemaVersion, m.FeatureStats[0].Hist = 3, &Hist{Edges: []float64{1}, Shares: []float64{0.5, 0.4}}
		}, "shares add up to 0.9, want 1"},
		{"hist negative share", func(m *Manifest) {
			m.SchemaVersion, m.FeatureStats[0].Hist = 3, &Hist{Edges: []float64{1}, Shares: []float64{-0.5, 1.5}}
		}, "share 0 is -0.5"},
		{"hist no edges", func(m *Manifest) {
			m.SchemaVersion, m.FeatureStats[0].Hist = 3, &Hist{Shares: []float64{1}}
		}, "hist: 0 edges, want 1 to 64"},
		{"nan stat", func(m *Manifest) { m.FeatureStats[2].Mean = math.NaN() }, "feature_stats[2] (vibration_rms.max)"},
		{"inf std", func(m *Manifest) { m.FeatureStats[0].Std = math.Inf(1) }, "feature_stats[0]"},
		{"negative std", func(m *Manifest) { m.FeatureStats[1].Std = -1 }, "std >= 0"},
	}
	for _, c := range cases {
		m, _ := pkg.Decode()
		c.edit(m)
		err := m.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		if c.want == "" { // a valid version-2 manifest round-trips through the decoder
			b, _ := m.Encode()
			if _, err := DecodeManifest(b); err != nil {
				t.Errorf("%s: decode: %v", c.name, err)
			}
		}
	}
}

func TestDecodeBuildSpec(t *testing.T) {
	const good = `name: n
version: "2"
window: {size: 4}
input: {name: x, features: [{sensor: a, stat: mean}, {sensor: a, stat: ewma, alpha: 0.5}]}
output: {name: y, semantics: remaining_useful_life_cycles, alert: below}
thresholds: {raise: 10, clear: 20, min_duration: 1m}
targeting: {gateways: [gw-*]}
training: {seed: 3}
`
	s, err := DecodeBuildSpec([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != SchemaVersion || m.AlertWhen != "" || m.Features[1].Alpha != 0.5 || string(m.Training) != `{"seed":3}` {
		t.Fatalf("manifest %+v", m)
	}
	bad := map[string]string{
		"unknown":      good + "extra: 1\n",
		"nan":          strings.Replace(good, "raise: 10", "raise: .nan", 1),
		"kind":         strings.Replace(good, "size: 4", "size: [4]", 1),
		"no alert":     strings.Replace(good, ", alert: below", "", 1),
		"wrong alert":  strings.Replace(good, "alert: below", "alert: above", 1),
		"semantics":    strings.Replace(good, "remaining_useful_life_cycles", "remaining_useful_life", 1),
		"no features":  strings.Replace(good, "features: [{sensor: a, stat: mean}, {sensor: a, stat: ewma, alpha: 0.5}]", "features: []", 1),
		"stats length": good + "feature_stats: [{mean: 1, std: 1}]\n",
	}
	for name, b := range bad {
		if b == good {
			t.Fatalf("%s: edit did not apply", name)
		}
		s, err := DecodeBuildSpec([]byte(b))
		if err == nil {
			_, err = s.Manifest()
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStatsOf(t *testing.T) {
	specs := []string{"a.mean", "b.max"}
	st, err := StatsOf([][]float32{{1, 10}, {3, 10}}, specs)
	if err != nil || st[0] != (FeatureStat{Mean: 2, Std: 1}) || st[1] != (FeatureStat{Mean: 10, Std: 0}) {
		t.Fatalf("%v %v", st, err)
	}
	if _, err := StatsOf(nil, specs); err == nil {
		t.Error("no rows accepted")
	}
	if _, err := StatsOf([][]float32{{1, float32(math.Inf(1))}}, specs); err == nil || !strings.Contains(err.Error(), "b.max") {
		t.Errorf("infinite column: %v", err)
	}
	if _, err := StatsOf([][]float32{{1}}, specs); err == nil {
		t.Error("short row accepted")
	}
}

func TestWindowInputManifest(t *testing.T) {
	pkg := testPackage(t, "m", "1", 2)
	base := func() *Manifest {
		m, _ := pkg.Decode()
		m.SchemaVersion, m.InputKind, m.Sensors, m.Features = 2, InputWindow, []string{"a", "b"}, nil
		m.Window = features.WindowConfig{Size: 3, MinSamples: 1, Hop: 1}
		m.Samples = []Sample{{Input: make([]float32, 6), Output: []float32{1}}}
		return m
	}
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
	m := base()
	if m.InputWidth() != 6 || strings.Join(m.InputColumns(), ",") != "a[-2],b[-2],a[-1],b[-1],a[0],b[0]" {
		t.Fatalf("width %d columns %v", m.InputWidth(), m.InputColumns())
	}
	cases := map[string]func(m *Manifest){
		"schema_version: 1, but input_kind": func(m *Manifest) { m.SchemaVersion = 1 },
		"features: must be empty":           func(m *Manifest) { m.Features = []features.Spec{{Sensor: "a", Stat: features.Mean}} },
		"needs a count window": func(m *Manifest) {
			m.Window = features.WindowConfig{Kind: features.KindDuration, Duration: features.Duration(time.Minute)}
		},
		"2 entries for 3 sensors":              func(m *Manifest) { m.Sensors = append(m.Sensors, "c") },
		"empty or repeated":                    func(m *Manifest) { m.Sensors[1] = "a" },
		"input has 5 values for an input of 6": func(m *Manifest) { m.Samples[0].Input = m.Samples[0].Input[:5] },
		"input_kind: unknown":                  func(m *Manifest) { m.InputKind = "image" },
		"sensors: only for input_kind": func(m *Manifest) {
			m.InputKind = InputFeatures
			m.Features = []features.Spec{{Sensor: "a", Stat: features.Mean}}
		},
	}
	for want, edit := range cases {
		m := base()
		edit(m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}
