package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
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

// TestKgoLoggerConnectionErrorsAreDebug: warnings whose error is the
// connection failing (a broker that died mid-request) are debug: the link
// state reports the outage. A warning whose error the broker sent stays.
func TestKgoLoggerConnectionErrorsAreDebug(t *testing.T) {
	var buf bytes.Buffer
	k := newKgoLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, err := range []error{io.EOF, fmt.Errorf("first read: %w", io.EOF), io.ErrUnexpectedEOF, net.ErrClosed, refused,
		fmt.Errorf("unable to dial: %w", refused), os.NewSyscallError("read", syscall.ECONNRESET)} {
		k.Log(kgo.LogLevelWarn, "read from broker errored, killing connection", "broker", "0", "err", err)
		k.Log(kgo.LogLevelWarn, "produce partition load error, bumping error count on first stored batch", "err", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("connection errors reached the operator's log:\n%s", buf.String())
	}
	k.Log(kgo.LogLevelWarn, "produce partition load error, bumping error count on first stored batch", "err", errors.New("TOPIC_AUTHORIZATION_FAILED"))
	k.Log(kgo.LogLevelWarn, "no err key at all", "broker", "0")
	if n := strings.Count(buf.String(), "level=WARN"); n != 2 {
		t.Fatalf("want the broker's error and the line without one at warn, got %d lines:\n%s", n, buf.String())
	}
}
