package inference

import (
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

// TestManifestRULCyclesAndPartialWindow: a remaining-useful-life model in
// operating cycles with a count window that scores from the first reading
// (min_samples 1) decodes, round-trips, alerts when low, and bad variants
// are rejected with the field named.
func TestManifestRULCyclesAndPartialWindow(t *testing.T) {
	g := testGraph(4, 8, 3)
	man := testManifest("rul", "1", g, testSpecs(4))
	man.OutputSemantics = modelpkg.SemanticsRULCycles
	man.Thresholds = Thresholds{Raise: 30, Clear: 40}
	man.Window = features.WindowConfig{Kind: features.KindCount, Size: 30, Hop: 1, MinSamples: 1}
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pkg.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if got.OutputSemantics != modelpkg.SemanticsRULCycles || got.Window.MinSamples != 1 {
		t.Fatalf("decoded %q window %+v", got.OutputSemantics, got.Window)
	}
	b := string(pkg.Manifest)
	for name, s := range map[string]string{
		"raise > clear":        strings.Replace(b, `"clear": 40`, `"clear": 20`, 1),
		"min_samples > size":   strings.Replace(b, `"min_samples": 1`, `"min_samples": 31`, 1),
		"min_samples negative": strings.Replace(b, `"min_samples": 1`, `"min_samples": -1`, 1),
	} {
		if s == b {
			t.Fatalf("%s: edit did not apply", name)
		}
		if _, err := modelpkg.DecodeManifest([]byte(s)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := modelpkg.DecodeManifest([]byte(strings.Replace(b, `"min_samples": 1`, `"min_samples": 31`, 1))); err == nil ||
		!strings.Contains(err.Error(), "window.min_samples") {
		t.Errorf("min_samples error does not name the field: %v", err)
	}

	// Alerts: raised at or below 30 cycles, cleared above 40.
	m := &model{man: got}
	var a alertState
	var states []string
	rule := ruleFor(m, nil)
	for i, s := range []float64{90, 31, 30, 35, 41, 12} {
		if state, _, ok := rule.step(&a, s, t0().Add(time.Duration(i)*time.Hour)); ok {
			states = append(states, state)
		}
	}
	if strings.Join(states, ",") != "raised,cleared,raised" {
		t.Fatalf("alert states %v", states)
	}
}
