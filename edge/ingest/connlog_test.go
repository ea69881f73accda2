package ingest

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// An unreachable broker is logged at once, then at doubling intervals with
// the count of attempts in between, not once per retry.
func TestConnAttemptsBackoff(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var c connAttempts
	start := time.Unix(1_780_000_000, 0)
	for s := 0; s < 600; s++ { // one attempt a second for 10 minutes
		c.fail(log, "tcp://b:1883", errors.New("connection refused"), start.Add(time.Duration(s)*time.Second))
	}
	lines := strings.Count(buf.String(), "mqtt broker unreachable")
	// At 0, 10, 30, 70, 150, 310 s (then every 5 min): 6 lines.
	if lines != 6 {
		t.Fatalf("%d lines for 600 attempts, want 6:\n%s", lines, buf.String())
	}
	if !strings.Contains(buf.String(), "failed_attempts=20") {
		t.Errorf("the third line does not count the 20 attempts since the second:\n%s", buf.String())
	}
	if n := c.connected(); n != 600 {
		t.Errorf("connected after %d failed attempts, want 600", n)
	}
	buf.Reset()
	c.fail(log, "tcp://b:1883", errors.New("refused"), start.Add(time.Hour))
	if !strings.Contains(buf.String(), "failed_attempts=1") {
		t.Errorf("a new outage is not logged at once:\n%s", buf.String())
	}
}
