package edge_test

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// logLines is a slog destination that keeps every line, for tests that
// count and read them.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimRight(l.buf.String(), "\n"), "\n")
}

func newLogLines() (*logLines, *slog.Logger) {
	l := &logLines{}
	return l, slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestOutageLogsStayQuiet takes Kafka and the MQTT broker away for long
// enough that the appliance retries each of them several times (short
// backoffs configured; the attempts are counted from the debug lines) and
// checks what an operator's log (info and above) got: a few lines for the
// outage, not one per retry; and "component=" once per line.
func TestOutageLogsStayQuiet(t *testing.T) {
	logs, log := newLogLines()
	s := prepareStack(t, stackOptions{kafka: `  link:
    retry_backoff_min: 50ms
    retry_backoff_max: 200ms`}, `  max_reconnect_interval: 200ms
  connect_timeout: 1s`, "")
	s.log = log
	s.startApp()
	before := len(logs.lines())
	s.kafka.Stop()
	s.mqtt.Stop()
	const retries = 10
	s.waitFor("several reconnect attempts to Kafka", 60*time.Second, func() bool {
		return len(grep(logs.lines()[before:], "unable to open connection to broker")) >= retries
	})
	during := logs.lines()[before:]
	s.kafka.Start()
	s.mqtt.Start()
	s.waitFor("MQTT connected again", 30*time.Second, func() bool { return s.app.Status().MQTT.Connected })

	shown := grep(during, "level=INFO", "level=WARN", "level=ERROR")
	t.Logf("%d Kafka connection attempts; the operator's log got %d lines:\n%s",
		len(grep(during, "unable to open connection to broker")), len(shown), strings.Join(shown, "\n"))
	if len(shown) > 6 {
		t.Errorf("%d lines at info or above during the outage, want at most 6 (one or two per broker, not one per retry)", len(shown))
	}
	reconnected := grep(logs.lines(), "mqtt connected")
	if len(reconnected) < 2 || !regexp.MustCompile(`failed_attempts=([3-9]|\d\d)`).MatchString(reconnected[len(reconnected)-1]) {
		t.Errorf("want several failed MQTT attempts before the reconnection, got %q", reconnected)
	}
	for _, l := range logs.lines() {
		if n := strings.Count(l, "component="); n > 1 {
			t.Fatalf("component= %d times in one line: %s", n, l)
		}
	}
}

// grep returns the lines that hold any of subs.
func grep(lines []string, subs ...string) []string {
	var out []string
	for _, l := range lines {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}
