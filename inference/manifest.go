package inference

import "github.com/edgepm/edgepm/inference/modelpkg"

// Thresholds are the alert thresholds of a model (the manifest's, or the
// SetThresholds override). The type is modelpkg's, named here because the
// engine's API (SetThresholds, Thresholds) and its alert code speak in it.
type Thresholds = modelpkg.Thresholds

// lowIsBad reports whether a low score is the alarming end (remaining
// useful life) for the model's output semantics.
func lowIsBad(semantics string) bool { return modelpkg.LowIsBad(semantics) }
