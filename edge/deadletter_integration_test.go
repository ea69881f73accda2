package edge_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgepm/edgepm/edge/ingest"
)

// TestHugePayloadAlwaysDeadlettered: with validation.max_payload_bytes
// raised to the most that config check accepts, a 5 MB payload, alone and
// amid other messages, is dead-lettered with its payload cut to fit one
// record (truncated), counted, and acknowledged: not redelivered after a
// restart. (Before, a dead letter keeping max_payload_bytes of payload was
// over the record limit once base64-encoded: alone it was never
// acknowledged, in a batch it was dropped.)
func TestHugePayloadAlwaysDeadlettered(t *testing.T) {
	s := startStack(t, "validation:\n  max_payload_bytes: 1000000\n")
	huge := filepath.Join(t.TempDir(), "huge.json")
	if err := os.WriteFile(huge, []byte(`{"values":{"x":1},"pad":"`+strings.Repeat("y", 5_000_000)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const topic = "plant/s/l/pump-1/telemetry"
	s.mosquittoPubFile(topic, huge) // alone
	s.consume(60*time.Second, []string{"deadletter"}, func(c *consumed) bool { return len(c.recs["deadletter"]) >= 1 })

	var wg sync.WaitGroup // amid readings, in the same ingest batches
	wg.Add(1)
	go func() { defer wg.Done(); s.mosquittoPubFile(topic, huge) }()
	s.mosquittoPub(topic, 1, readingLines(1, 300, time.Now().Add(-150*time.Second)))
	wg.Wait()
	c := s.consume(60*time.Second, []string{"deadletter", "readings"}, func(c *consumed) bool {
		return len(c.recs["deadletter"]) >= 2 && len(c.recs["readings"]) >= 300
	})
	for i, r := range c.unique(t, "deadletter") {
		var v struct {
			Reason       string `json:"reason"`
			Payload      []byte `json:"payload"`
			PayloadBytes int    `json:"payload_bytes"`
			Truncated    bool   `json:"truncated"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatal(err)
		}
		if v.Reason != ingest.ReasonTooLarge || !v.Truncated || v.PayloadBytes != 5_000_027 ||
			len(v.Payload) == 0 || len(v.Payload) > 1_000_000 || len(r.Value) > 1<<20 {
			t.Errorf("dead letter %d: reason %s, truncated %v, payload_bytes %d, kept %d, record %d bytes",
				i, v.Reason, v.Truncated, v.PayloadBytes, len(v.Payload), len(r.Value))
		}
	}
	metrics := string(s.httpGet("/metrics"))
	if !strings.Contains(metrics, `edgepm_ingest_invalid_total{reason="too_large"} 2`) ||
		strings.Contains(metrics, `edgepm_records_dropped_total{reason="too_large",stream="deadletter"}`) {
		t.Errorf("metrics:\n%s\n%s", grepLines(metrics, "edgepm_ingest_invalid_total"), grepLines(metrics, "edgepm_records_dropped_total"))
	}

	// Acknowledged: a restart on the same persistent session gets nothing
	// redelivered, so no third dead letter appears before the next reading.
	s.stopApp()
	s.startApp()
	s.mosquittoPub(topic, 1, readingLines(301, 1, time.Now().Add(-301*time.Second)))
	c = s.consume(60*time.Second, []string{"deadletter", "readings"}, func(c *consumed) bool {
		return len(c.unique(t, "readings")) >= 301
	})
	if n := len(c.unique(t, "deadletter")); n != 2 {
		t.Errorf("%d dead letters after a restart, want 2 (a message was redelivered)", n)
	}
}
