package edge_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgepm/edgepm/edge"
	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
)

// uiDevices are the machines the history and status-page tests feed; the
// last one runs hot (see hotReadingLines) so that it raises an alert.
var uiDevices = []string{"pump-001", "motor-002", "fan-003"}

// uiThresholds puts the alert thresholds between the scores of the normal
// machines and the hot one (failure probability, the default model).
const uiThresholds = "  thresholds: {raise: 0.5, clear: 0.3}"

// feedUntilHistory publishes readings of uiDevices and waits until the
// history has at least samples samples, every device has scores and an
// alert was raised. It returns the last /api/history.
func feedUntilHistory(s *stack, samples int) edge.History {
	s.t.Helper()
	t0 := time.Now().Add(-time.Hour)
	for i, d := range uiDevices {
		lines := readingLines(1, 90, t0)
		if i == len(uiDevices)-1 {
			lines = hotReadingLines(1, 90, t0)
		}
		s.mosquittoPub("plant/site1/line1/"+d+"/telemetry", 1, lines)
	}
	var h edge.History
	s.waitFor(fmt.Sprintf("%d history samples, scores of %d devices and an alert", samples, len(uiDevices)),
		time.Duration(samples+4)*15*time.Second, func() bool {
			h = s.app.History()
			scored := 0
			for _, d := range h.Devices {
				if len(d.Scores) > 0 {
					scored++
				}
			}
			return len(h.Samples.Time) >= samples && scored == len(uiDevices) && len(h.Alerts) > 0
		})
	return h
}

// hotReadingLines are readings of a machine running hot and shaking: the
// default model scores them as likely to fail.
func hotReadingLines(start, n int, t0 time.Time) []string {
	lines := make([]string, n)
	for i := range n {
		k := start + i
		lines[i] = fmt.Sprintf(`{"ts":%d,"seq":%d,"values":{"vibration_rms":%.3f,"bearing_temp_c":%.2f,"current_a":%.2f,"speed_rpm":1480}}`,
			t0.Add(time.Duration(k)*time.Second).UnixMilli(), k, 9+0.05*float64(k%20), 95+0.2*float64(k%10), 18+0.1*float64(k%10))
	}
	return lines
}

// TestHistoryMatchesSchema checks a live /api/history, with samples,
// scores and an alert in it, against docs/schemas/history.schema.json.
func TestHistoryMatchesSchema(t *testing.T) {
	s := startStack(t, uiThresholds)
	feedUntilHistory(s, 1)
	body := s.httpGet("/api/history")
	set, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	if err := set.ValidateDoc("history.schema.json", body); err != nil {
		t.Fatalf("/api/history does not match its schema: %v", err)
	}
	var got edge.History
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.V != edge.HistoryVersion || got.Gateway != "it-gw" || got.BufferMaxBytes != s.cfg.Buffer.MaxBytes {
		t.Errorf("history header = v%d gateway %q max %d, want v%d it-gw %d", got.V, got.Gateway, got.BufferMaxBytes,
			edge.HistoryVersion, s.cfg.Buffer.MaxBytes)
	}
	var readings float64 // the readings were published within the first sample's step
	for _, r := range got.Samples.ReadingsPerSec {
		readings += r
	}
	if readings*got.StepSeconds < 0.9*float64(90*len(uiDevices)) { // 10%: the ticker's steps are not exactly step_s
		t.Errorf("history samples = %+v, want the %d readings published in their rates", got.Samples, 90*len(uiDevices))
	}
	hot := uiDevices[len(uiDevices)-1]
	for _, a := range got.Alerts {
		if a.Device != hot {
			t.Errorf("alert of %s (%s at %v); only %s runs hot", a.Device, a.State, a.Score, hot)
		}
	}
	t.Logf("history: %d samples, alerts %+v, devices %+v", len(got.Samples.Time), got.Alerts, got.Devices)
}
