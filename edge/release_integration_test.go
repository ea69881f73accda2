package edge_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/models"
)

// defaultAt is the embedded default model as version, signed with priv.
func defaultAt(t *testing.T, version string, priv ed25519.PrivateKey) *modelpkg.Package {
	t.Helper()
	mb, onnx := models.Default()
	man, err := modelpkg.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	man.Version = version
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	if err := modelpkg.Sign(pkg, priv); err != nil {
		t.Fatal(err)
	}
	return pkg
}

// TestReleaseShadowReachesEngine: a signed release naming a shadow makes
// the appliance's watcher stage it and hand it to the inference engine
// (Engine.LoadShadow); /api/status shows the release and the shadow and
// still matches its closed schema; a release without the shadow clears it.
func TestReleaseShadowReachesEngine(t *testing.T) {
	set, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	s := startStack(t, "  public_keys: ["+base64.StdEncoding.EncodeToString(pub)+"]")
	ctx := context.Background()
	kcfg := bridge.Config{Brokers: s.kafka.Seeds()}

	served := defaultAt(t, "1.0.0", priv)
	if _, err := bridge.PublishModel(ctx, kcfg, served, 0, nil, bridge.WithReleaseKey(priv)); err != nil {
		t.Fatal(err)
	}
	nobody := &bridge.Release{Action: bridge.ActionCanary, Stable: "1.0.0", Canary: &bridge.Selector{Gateways: []string{"gw-none"}}}
	if _, err := bridge.PublishModel(ctx, kcfg, defaultAt(t, "2.0.0", priv), 0, nil, bridge.WithReleaseKey(priv), bridge.WithRelease(nobody)); err != nil {
		t.Fatal(err)
	}
	man, _ := served.Decode()
	name := man.Name
	shadowInfo := `edgepm_inference_shadow_model_info{name="` + name + `",version="2.0.0"}`
	if _, err := bridge.PublishRelease(ctx, kcfg, &bridge.Release{Name: name, Action: bridge.ActionShadow, Version: "1.0.0", Shadow: "2.0.0"}, priv, nil); err != nil {
		t.Fatal(err)
	}
	var body []byte
	s.waitFor("the shadow handed to the engine", 60*time.Second, func() bool {
		m := selectedModel(t, s)
		return m.Active == "1.0.0" && m.ShadowState == bridge.ShadowActive && m.ReleaseAction == bridge.ActionShadow
	})
	body = s.httpGet("/api/status")
	if err := set.ValidateDoc("status.schema.json", body); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if got := metricLine(t, s.app, shadowInfo); got != "1" {
		t.Fatalf("%s = %q: the engine has not loaded the shadow", shadowInfo, got)
	}

	if _, err := bridge.PublishRelease(ctx, kcfg, &bridge.Release{Name: name, Action: bridge.ActionPromote, Version: "1.0.0"}, priv, nil); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the shadow cleared", 30*time.Second, func() bool {
		return metricLine(t, s.app, shadowInfo) == "" && selectedModel(t, s).Shadow == ""
	})
}

// selectedModel is the served name's entry of /api/status models.
func selectedModel(t *testing.T, s *stack) bridge.ModelStatus {
	t.Helper()
	var st struct{ Models []bridge.ModelStatus }
	if err := json.Unmarshal(s.httpGet("/api/status"), &st); err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Models {
		if m.Selected {
			return m
		}
	}
	return bridge.ModelStatus{}
}
