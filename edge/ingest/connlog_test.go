package ingest

import (
	"bytes"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/testenv"
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

// lineSignal is a log writer that signals each line containing want.
type lineSignal struct {
	want string
	hit  chan string
}

func (l *lineSignal) Write(p []byte) (int, error) {
	if strings.Contains(string(p), l.want) {
		select {
		case l.hit <- string(p):
		default:
		}
	}
	return len(p), nil
}

// A broker nobody listens on is reported in the log (paho retries
// silently otherwise).
func TestUnreachableBrokerLogged(t *testing.T) {
	w := &lineSignal{want: "mqtt broker unreachable", hit: make(chan string, 1)}
	cfg := MQTTConfig{Broker: "tcp://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), ClientID: "unreachable"}
	cfg.SetDefaults("gw")
	in, err := NewClient(cfg, slog.New(slog.NewTextHandler(w, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	in.Start()
	defer in.Disconnect(0)
	select {
	case line := <-w.hit:
		if !strings.Contains(line, "failed_attempts=1") || !strings.Contains(line, "127.0.0.1") {
			t.Errorf("log line: %s", line)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no log line about the unreachable broker")
	}
}
