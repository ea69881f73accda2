package inference

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// shadowFits returns nil when the shadow model sh reads the served model's
// input (input kind, window, sensors, features in order), else a
// *modelpkg.RejectError (reason ReasonShadowInput) naming both models and
// the first difference.
func shadowFits(served, sh *model) *modelpkg.RejectError {
	if served == nil {
		return reject(sh.id, modelpkg.ReasonShadowInput, nil, "no model is served to compare the shadow with")
	}
	if d := inputDiff(served.man, sh.man); d != "" {
		return reject(sh.id, modelpkg.ReasonShadowInput, nil, "shadow model %s and served model %s read different inputs: %s",
			sh.id, served.id, d)
	}
	return nil
}

// inputDiff describes the first difference between the inputs the
// manifests a (served) and b (shadow) read, or returns "".
func inputDiff(a, b *modelpkg.Manifest) string {
	ka, kb := inputKind(a), inputKind(b)
	switch {
	case ka != kb:
		return fmt.Sprintf("input_kind %s (served) vs %s (shadow)", ka, kb)
	case !reflect.DeepEqual(a.Window.WithDefaults(), b.Window.WithDefaults()):
		return fmt.Sprintf("window %s (served) vs %s (shadow)", windowJSON(a), windowJSON(b))
	case ka == modelpkg.InputWindow && !slices.Equal(a.Sensors, b.Sensors):
		return fmt.Sprintf("sensors %v (served) vs %v (shadow)", a.Sensors, b.Sensors)
	case ka == modelpkg.InputWindow:
		return ""
	case len(a.Features) != len(b.Features):
		return fmt.Sprintf("%d features (served) vs %d (shadow)", len(a.Features), len(b.Features))
	}
	for i := range a.Features {
		if !reflect.DeepEqual(a.Features[i], b.Features[i]) {
			return fmt.Sprintf("features[%d] %s (served) vs %s (shadow)", i, a.Features[i], b.Features[i])
		}
	}
	return ""
}

// windowJSON writes a manifest's window (with defaults) as the manifest
// would.
func windowJSON(m *modelpkg.Manifest) string {
	b, err := json.Marshal(m.Window.WithDefaults())
	if err != nil {
		return fmt.Sprint(m.Window.WithDefaults())
	}
	return string(b)
}

// inputKind names a manifest's input kind ("" is features).
func inputKind(m *modelpkg.Manifest) string {
	if m.InputKind == "" {
		return modelpkg.InputFeatures
	}
	return m.InputKind
}

// inputMap turns a window input row normalised with the served model's
// training statistics into one normalised with the shadow's: value t*S+s
// becomes v*scale[s] + shift[s]. nil: the rows are the shadow's input as
// they are (a features input, or equal statistics).
type inputMap struct {
	scale, shift []float32
}

// shadowInput returns how to feed rows computed for served to the shadow
// sh, or ok false when sh does not read served's input. A window value is
// v = (x - mean) * inv (inv = 1/std, 1 when std is 0; features.NewRawPlan),
// so the shadow's is v*inv'/inv + (mean - mean')*inv'.
func shadowInput(served, sh *model) (_ *inputMap, ok bool) {
	if inputDiff(served.man, sh.man) != "" {
		return nil, false
	}
	a, b := served.man.FeatureStats, sh.man.FeatureStats
	if inputKind(served.man) != modelpkg.InputWindow || slices.Equal(a, b) {
		return nil, true
	}
	s := len(served.man.Sensors)
	im := &inputMap{scale: make([]float32, s), shift: make([]float32, s)}
	for c := range s {
		inv, inv2 := invStd(a[c].Std), invStd(b[c].Std)
		im.scale[c] = float32(inv2 / inv)
		im.shift[c] = float32((a[c].Mean - b[c].Mean) * inv2)
	}
	return im, true
}

func invStd(std float64) float64 {
	if std > 0 {
		return 1 / std
	}
	return 1
}

// apply writes src, rows of S-channel values, into dst through the map.
func (im *inputMap) apply(dst, src []float32) {
	if im == nil {
		copy(dst, src)
		return
	}
	s := len(im.scale)
	for i, v := range src {
		c := i % s
		dst[i] = v*im.scale[c] + im.shift[c]
	}
}
