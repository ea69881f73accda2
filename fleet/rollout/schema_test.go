package rollout

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
)

// What Sign writes matches docs/schemas/rollouts-value.schema.json and the
// record inside it rollouts.schema.json; the closed schemas refuse drift.
func TestRecordMatchesSchema(t *testing.T) {
	s, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	_, priv := testKey(t)
	minimal := testRecord()
	minimal.Canary, minimal.Gateways, minimal.Rule = nil, nil, Rule{}
	for _, r := range []*Record{testRecord(), minimal} {
		v, err := Sign(r, priv)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ValidateDoc("rollouts-value.schema.json", v); err != nil {
			t.Fatal(err)
		}
		var val Value
		if err := json.Unmarshal(v, &val); err != nil {
			t.Fatal(err)
		}
		if err := s.ValidateDoc("rollouts.schema.json", val.Rollout); err != nil {
			t.Fatal(err)
		}
		bad := strings.Replace(string(val.Rollout), `"counter"`, `"extra":1,"counter"`, 1)
		if err := s.ValidateDoc("rollouts.schema.json", []byte(bad)); err == nil {
			t.Fatal("schema took an unknown field")
		}
	}
}
