package edge

import (
	"math"
	"slices"
	"testing"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/inference"
)

// The served model's state is the model watcher's state of its name while
// the watcher serves it (or still fetches it), "builtin" otherwise; no
// model, no model block.
func TestHeartbeatModel(t *testing.T) {
	if m := heartbeatModel(ModelStatus{}, nil); m != nil {
		t.Errorf("no model loaded: %+v", m)
	}
	ms := ModelStatus{Loaded: true, Name: "pump", Version: "2", KeyID: "k1"}
	if m := heartbeatModel(ms, []bridge.ModelStatus{{Name: "other", Active: "1", State: bridge.ModelActive}}); m.State != "builtin" || m.KeyID != "k1" {
		t.Errorf("start-up model: %+v", m)
	}
	m := heartbeatModel(ms, []bridge.ModelStatus{{Name: "pump", Active: "2", State: bridge.ModelRejected, Rejected: "3", LastError: "signature",
		ReleaseCounter: 7, Rollout: "r-1"}})
	if m.State != bridge.ModelRejected || m.Rejected != "3" || m.LastError != "signature" || m.Counter != 7 || m.Rollout != "r-1" {
		t.Errorf("served from the topic, newer one rejected: %+v", m)
	}
	if m := heartbeatModel(ms, []bridge.ModelStatus{{Name: "pump", Active: "1", State: bridge.ModelActive}}); m.State != "builtin" {
		t.Errorf("the watcher serves another version than the engine: %+v", m)
	}
}

// The shadow block carries the engine's comparison once a window was
// scored by both, never a value JSON cannot carry.
func TestHeartbeatShadow(t *testing.T) {
	if s := heartbeatShadow(nil, "pump", nil); s != nil {
		t.Errorf("no shadow: %+v", s)
	}
	s := heartbeatShadow(&inference.ShadowStats{Name: "pump", Version: "3", Dropped: 2}, "pump", nil)
	if s.Name != "pump" || s.Version != "3" || s.State != "active" || s.Dropped != 2 || s.AlertAgreement != nil || s.MeanAbsDiff != nil {
		t.Errorf("before the first window: %+v", s)
	}
	s = heartbeatShadow(&inference.ShadowStats{Name: "pump", Version: "3", Windows: 10, AlertAgreement: 0.9, MeanAbsDiff: math.NaN()}, "pump", nil)
	if s.Windows != 10 || s.AlertAgreement == nil || *s.AlertAgreement != 0.9 || s.MeanAbsDiff != nil {
		t.Errorf("after 10 windows: %+v", s)
	}
	// The release names a shadow the engine does not score (yet): the
	// watcher's version and state, whatever the engine still holds.
	rel := []bridge.ModelStatus{{Name: "pump", Shadow: "4", ShadowState: bridge.ShadowRejected}}
	for _, st := range []*inference.ShadowStats{nil, {Name: "pump", Version: "3", Windows: 10}} {
		s = heartbeatShadow(st, "pump", rel)
		if s == nil || s.Version != "4" || s.State != bridge.ShadowRejected || s.Windows != 0 {
			t.Errorf("shadow 4 rejected, engine %+v: %+v", st, s)
		}
	}
	if s = heartbeatShadow(&inference.ShadowStats{Name: "pump", Version: "4", Windows: 3}, "pump", rel); s.State != "active" || s.Windows != 3 {
		t.Errorf("engine scores the named shadow: %+v", s)
	}
}

// Drift: features above the drifting score are counted and named (at most
// maxDriftNames, worst first); non-finite scores are left out.
func TestHeartbeatDriftSummary(t *testing.T) {
	var feats []inference.FeatureDrift
	for i := range 12 {
		feats = append(feats, inference.FeatureDrift{Feature: string(rune('a' + i)), Score: float64(i)})
	}
	feats = append(feats, inference.FeatureDrift{Feature: "nan", Score: math.NaN()})
	d := driftOf(inference.DriftReport{Rows: 5, Features: feats})
	if d.Drifting != 8 || len(d.Features) != maxDriftNames || d.Features[0] != "l" || d.MaxScore != 11 {
		t.Errorf("drift summary %+v", d)
	}
	if d := driftOf(inference.DriftReport{}); d != nil {
		t.Errorf("no rows: %+v", d)
	}
	// PSI counts once ready (enough rows), and names the feature first
	// when it is further past its mark than any mean shift.
	feats = []inference.FeatureDrift{
		{Feature: "shift", Score: 3.3},
		{Feature: "shape", Score: 0.4, PSI: 2, RecentPSI: 9, HasHist: true, PSIReady: true},
		{Feature: "early", Score: 0.1, PSI: 4, HasHist: true},
		{Feature: "calm", Score: 0.2, PSI: 0.3, HasHist: true, PSIReady: true},
	}
	d = driftOf(inference.DriftReport{Rows: 5000, Features: feats})
	if d.Drifting != 2 || !slices.Equal(d.Features, []string{"shape", "shift"}) || d.MaxScore != 3.3 || d.MaxPSI != 4 {
		t.Errorf("drift summary with PSI %+v; want shape and shift drifting, max PSI 4 (reported even before it counts)", d)
	}
}
