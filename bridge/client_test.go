package bridge

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKgoLoggerQuietDuringOutage: kgo's per-attempt warnings reach the log
// at their level once per message per minute, failed dials never (they are
// debug: the components report reachability themselves).
func TestKgoLoggerQuietDuringOutage(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	clock := newManualClock(time.Unix(1e9, 0))
	k := newKgoLogger(log)
	k.repeats.now = clock.Now
	for range 31 { // an attempt every 2 s for a minute
		k.Log(kgo.LogLevelWarn, kgoDialFailed, "addr", "127.0.0.1:9092")
		k.Log(kgo.LogLevelError, "unable to request api versions", "broker", "0")
		k.Log(kgo.LogLevelWarn, "random error while producing, requeueing unattempted request")
		clock.Advance(2 * time.Second)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 || strings.Contains(buf.String(), kgoDialFailed) {
		t.Fatalf("a minute of outage logged %d lines, want 4 (two messages, twice each; no dial failures):\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[1], "level=WARN") {
		t.Errorf("levels not kept:\n%s", buf.String())
	}
}
