package edge_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/models"
)

// TestStatusV2MatchesSchema: /api/status of a live appliance serving a
// signed model (inference.model_dir) and scoring readings validates against
// docs/schemas/status.schema.json (closed: no field the document does not
// name), carries no null, and its model card names the signing key, the
// output semantics and the activation time.
func TestStatusV2MatchesSchema(t *testing.T) {
	set, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := signedDefaultModel(t, priv)
	s := startStack(t, fmt.Sprintf("  drift_interval: 1s\n  model_dir: %s\n  public_keys: [%q]", dir,
		base64.StdEncoding.EncodeToString(pub)))
	s.mosquittoPub("plant/site1/line1/pump-001/telemetry", 1, readingLines(1, 60, time.Now().Add(-time.Hour)))
	var body []byte
	var st struct {
		V     int
		Model struct {
			Name, Semantics string
			KeyID           string     `json:"key_id"`
			AlertWhen       string     `json:"alert_when"`
			ActivatedAt     *time.Time `json:"activated_at"`
			Drift           *struct{ Rows int64 }
		}
		Devices []struct {
			Score *float64
		}
	}
	s.waitFor("a scored device and a drift summary", 60*time.Second, func() bool {
		body = s.httpGet("/api/status")
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("status: %v: %s", err, body)
		}
		return len(st.Devices) == 1 && st.Devices[0].Score != nil && st.Model.Drift != nil
	})
	if err := set.ValidateDoc("status.schema.json", body); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if strings.Contains(string(body), "null") {
		t.Errorf("status has a null:\n%s", body)
	}
	m := st.Model
	if st.V != 2 || m.Name != "signed-model" || m.KeyID != modelpkg.KeyID(pub) || m.Semantics != modelpkg.SemanticsFailureProbability ||
		m.AlertWhen != "above" || m.ActivatedAt == nil || m.Drift.Rows == 0 {
		t.Errorf("model card: %+v", m)
	}

	// The schema is closed: a v1 document (buffer_records at the top) fails.
	var doc map[string]any
	_ = json.Unmarshal(body, &doc)
	doc["buffer_records"] = 1
	v1, _ := json.Marshal(doc)
	if err := set.ValidateDoc("status.schema.json", v1); err == nil {
		t.Error("the status schema accepts a field it does not name")
	}
}

// signedDefaultModel writes the embedded default model, renamed
// signed-model:1, signed with priv, into a package directory.
func signedDefaultModel(t *testing.T, priv ed25519.PrivateKey) string {
	t.Helper()
	mb, onnx := models.Default()
	man, err := modelpkg.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	man.Name, man.Version = "signed-model", "1"
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	if err := modelpkg.Sign(pkg, priv); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := modelpkg.WritePackageDir(dir, pkg); err != nil {
		t.Fatal(err)
	}
	return dir
}
