package edge_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/edgepm/edgepm/models"
)

// defaultAs returns the embedded default model as version version, changed
// by edit (nil: none).
func defaultAs(t *testing.T, version string, edit func(*modelpkg.Manifest)) *modelpkg.Package {
	t.Helper()
	mb, onnx := models.Default()
	man, err := modelpkg.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	man.Version = version
	if edit != nil {
		edit(man)
	}
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

type predictionValue struct {
	Device      string  `json:"device"`
	Model       string  `json:"model"`
	MV          string  `json:"model_version"`
	WindowEnd   int64   `json:"window_end"`
	Score       float64 `json:"score"`
	FeatureHash string  `json:"feature_hash"`
}

// TestShadowPredictionsThroughKafka: with a shadow model loaded, every
// window the served model scores is also scored by the shadow; its
// predictions reach edgepm.predictions through the buffer and the bridge
// with edgepm-shadow: 1 and the shadow's edgepm-model, are counted in
// /api/status (valid against its schema), the heartbeat and the shadow
// metrics, and the
// served predictions carry no shadow header. The shadow is the served
// model under another version, so the two agree on every window.
func TestShadowPredictionsThroughKafka(t *testing.T) {
	set, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	s := startStack(t, "  allow_unsigned: true\nfleet: {heartbeat_interval: 1s}")
	other := defaultAs(t, "2.0.0", func(m *modelpkg.Manifest) { m.Window.Size = 20 })
	var rerr *modelpkg.RejectError
	if err := s.app.LoadShadow(other); !errors.As(err, &rerr) || rerr.Reason != modelpkg.ReasonShadowInput {
		t.Fatalf("a shadow with another window: %v", err)
	}
	if err := s.app.LoadShadow(defaultAs(t, "1.1.0-shadow", nil)); err != nil {
		t.Fatal(err)
	}
	devices := []string{"pump-001", "fan-003"}
	for _, d := range devices {
		s.mosquittoPub("plant/site1/line1/"+d+"/telemetry", 1, readingLines(1, 90, time.Now().Add(-time.Hour)))
	}
	// window 30, hop 5: readings 30, 35, ... 90 of each device are scored.
	const windows = 2 * 13
	c := s.consume(60*time.Second, []string{"predictions"}, func(c *consumed) bool {
		return len(c.unique(t, "predictions")) >= 2*windows
	})
	served, shadow := map[string]predictionValue{}, map[string]predictionValue{}
	for _, r := range c.unique(t, "predictions") {
		var p predictionValue
		if err := json.Unmarshal(r.Value, &p); err != nil {
			t.Fatal(err)
		}
		key := p.Device + "@" + strconv.FormatInt(p.WindowEnd, 10)
		switch sh := header(r, "edgepm-shadow"); {
		case sh == "1" && header(r, "edgepm-model") == "edgepm-default:1.1.0-shadow" && p.MV == "1.1.0-shadow":
			shadow[key] = p
		case sh == "" && header(r, "edgepm-model") == "edgepm-default:1.0.0" && p.MV == "1.0.0":
			served[key] = p
		default:
			t.Fatalf("prediction %s with headers %v", r.Value, r.Headers)
		}
	}
	if len(served) != windows || len(shadow) != windows {
		t.Fatalf("%d served and %d shadow predictions, want %d of each", len(served), len(shadow), windows)
	}
	for k, p := range served {
		q := shadow[k]
		if q.FeatureHash != p.FeatureHash || q.Score != p.Score {
			t.Fatalf("window %s: served %+v, shadow %+v: not the same window and model", k, p, q)
		}
	}
	body := s.httpGet("/api/status")
	var st struct {
		Model struct {
			Shadow *struct {
				Name, Version   string
				Windows         int
				Dropped, Errors int
				AlertAgreement  *float64 `json:"alert_agreement"`
				MeanAbsDiff     *float64 `json:"mean_abs_diff"`
			}
		}
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if err := set.ValidateDoc("status.schema.json", body); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	sh := st.Model.Shadow
	if sh == nil || sh.Version != "1.1.0-shadow" || sh.Windows != windows || sh.Dropped != 0 || sh.Errors != 0 ||
		sh.AlertAgreement == nil || *sh.AlertAgreement != 1 || sh.MeanAbsDiff == nil || *sh.MeanAbsDiff != 0 {
		t.Fatalf("status model.shadow: %s", body)
	}
	if got := metricLine(t, s.app, "edgepm_inference_shadow_rows_scored_total"); got != strconv.Itoa(windows) {
		t.Fatalf("edgepm_inference_shadow_rows_scored_total %q, want %d", got, windows)
	}
	// The heartbeat carries the same comparison.
	hc := s.consume(30*time.Second, []string{wire.StreamGateways}, func(c *consumed) bool {
		hbs, _ := heartbeats(t, c)
		return len(hbs) > 0 && hbs[len(hbs)-1].Shadow != nil && hbs[len(hbs)-1].Shadow.Windows == windows
	})
	hbs, _ := heartbeats(t, hc)
	hs := hbs[len(hbs)-1].Shadow
	if hs.Name != "edgepm-default" || hs.Version != "1.1.0-shadow" || hs.State != "active" || hs.Dropped != 0 ||
		hs.AlertAgreement == nil || *hs.AlertAgreement != 1 || hs.MeanAbsDiff == nil || *hs.MeanAbsDiff != 0 {
		t.Fatalf("heartbeat shadow %+v", hs)
	}
	for _, r := range hc.recs[wire.StreamGateways] {
		if err := set.Validate(wire.StreamGateways, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	s.app.ClearShadow()
	st.Model.Shadow = nil
	body = s.httpGet("/api/status")
	if err := json.Unmarshal(body, &st); err != nil || st.Model.Shadow != nil {
		t.Fatalf("status after ClearShadow: %s", body)
	}
}

// TestShadowModelDir: inference.shadow_model_dir loads a shadow at
// start-up; one that does not read the served model's input is logged and
// skipped, and the appliance serves without a shadow.
func TestShadowModelDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkg  *modelpkg.Package
		want string // shadow version in /api/status; "" none
	}{
		{"fits", defaultAs(t, "1.2.0", nil), "1.2.0"},
		{"other window", defaultAs(t, "1.3.0", func(m *modelpkg.Manifest) { m.Window.Hop = 7 }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := modelpkg.WritePackageDir(dir, tc.pkg); err != nil {
				t.Fatal(err)
			}
			s := startStack(t, "  allow_unsigned: true\n  shadow_model_dir: "+dir)
			var st struct {
				Model struct{ Shadow *struct{ Version string } }
			}
			if err := json.Unmarshal(s.httpGet("/api/status"), &st); err != nil {
				t.Fatal(err)
			}
			got := ""
			if st.Model.Shadow != nil {
				got = st.Model.Shadow.Version
			}
			if got != tc.want {
				t.Fatalf("shadow version %q, want %q", got, tc.want)
			}
		})
	}
}
