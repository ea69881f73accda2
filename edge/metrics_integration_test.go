package edge_test

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestMetricsDocumentedAndUsed scrapes a live appliance that has ingested
// and scored readings, and checks that every edgepm_ metric it exposes is
// documented in docs/operations.md, that every metric the shipped Grafana
// dashboard and Prometheus rules query exists in that scrape, and that
// edgepm_build_info names the release, the Go version and the served model.
func TestMetricsDocumentedAndUsed(t *testing.T) {
	s := startStack(t, "  drift_interval: 1s")
	t0 := time.Now().Add(-time.Hour)
	s.mosquittoPub("plant/site1/line1/pump-001/telemetry", 1, readingLines(1, 60, t0))
	s.waitFor("predictions and drift", 60*time.Second, func() bool {
		return strings.Contains(string(s.httpGet("/metrics")), "edgepm_inference_feature_drift_z{") &&
			metricLine(t, s.app, "edgepm_inference_rows_scored_total") != "0"
	})
	scrape := string(s.httpGet("/metrics"))
	live := families(scrape)

	docs := readRepoFile(t, "docs/operations.md")
	var undocumented []string
	for name := range live {
		if strings.HasPrefix(name, "edgepm_") && !strings.Contains(docs, "`"+name+"`") {
			undocumented = append(undocumented, name)
		}
	}
	sort.Strings(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("metrics missing from docs/operations.md's metrics reference: %v", undocumented)
	}

	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(readRepoFile(t, "deploy/grafana/edgepm.json")), &dash); err != nil {
		t.Fatalf("deploy/grafana/edgepm.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("dashboard has %d queries; parse problem?", len(exprs))
	}
	checkQueried(t, "deploy/grafana/edgepm.json", exprs, live)
	var rules struct {
		Groups []struct {
			Rules []struct{ Expr string }
		}
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy/prometheus/edgepm-rules.yml")), &rules); err != nil {
		t.Fatalf("deploy/prometheus/edgepm-rules.yml: %v", err)
	}
	exprs = exprs[:0]
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	if len(exprs) < 6 {
		t.Fatalf("rules file has %d expressions; parse problem?", len(exprs))
	}
	checkQueried(t, "deploy/prometheus/edgepm-rules.yml", exprs, live)

	info := regexp.MustCompile(`(?m)^edgepm_build_info\{goversion="go[0-9.]+",model="([^"]+)",version="([^"]+)"\} 1$`).FindStringSubmatch(scrape)
	if info == nil || !strings.Contains(info[1], "@") {
		t.Errorf("edgepm_build_info: got %q", grepLines(scrape, "edgepm_build_info"))
	}
	if got := metricLine(t, s.app, "edgepm_ready"); got != "1" {
		t.Errorf("edgepm_ready = %q while /readyz is ready", got)
	}
	for _, gone := range []string{"edgepm_predictions_total", "edgepm_alerts_total", "edgepm_buffer_dropped_records_total"} {
		if live[gone] != "" {
			t.Errorf("%s is still exposed (renamed or a duplicate)", gone)
		}
	}
}

// families maps each metric family of a Prometheus text scrape to its type.
func families(scrape string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(scrape, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}

var metricName = regexp.MustCompile(`\b(edgepm_[a-z0-9_]+)`)

// checkQueried reports every edgepm_ name in exprs that is not a live
// family (a histogram's _bucket, _sum and _count count as its family).
func checkQueried(t *testing.T, file string, exprs []string, live map[string]string) {
	t.Helper()
	for _, e := range exprs {
		for _, m := range metricName.FindAllString(e, -1) {
			name := m
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(m, suf); ok && live[base] == "histogram" {
					name = base
				}
			}
			if live[name] == "" {
				t.Errorf("%s queries %s, which the appliance does not expose", file, m)
			}
		}
	}
}

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
