package bridge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
)

// syncBuffer is a log destination safe for the watcher's goroutine and the
// test's.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the lines that contain sub.
func (b *syncBuffer) lines(sub string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if l != "" && strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// pauseCall is one wait of the watcher between attempts to reach Kafka.
type pauseCall struct {
	attempt int
	d       time.Duration
}

// TestModelWatcherBacksOffWhileKafkaIsDown: with Kafka down from the
// start, the watcher's attempts are paced by an exponential backoff within
// its bounds (the wait is the test's seam: no wall-clock assertions), the
// outage is logged once and the recovery once, and the backoff is reset
// once Kafka answers.
func TestModelWatcherBacksOffWhileKafkaIsDown(t *testing.T) {
	srv := testenv.StartKafka(t)
	srv.Stop()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	const lo, hi = 10 * time.Millisecond, 80 * time.Millisecond
	w, err := NewModelWatcher(ModelWatcherConfig{Kafka: Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}, Dir: t.TempDir(),
		Activate: func(*modelpkg.Package) error { return nil }, RetryBackoffMin: lo, RetryBackoffMax: hi}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	const outage = 6
	var calls []pauseCall // Run's goroutine until it stopped
	w.pause = func(ctx context.Context, d time.Duration) bool {
		calls = append(calls, pauseCall{w.reach.fails, d})
		if len(calls) == outage {
			srv.Start() // Kafka is back for the next attempt
		}
		return ctx.Err() == nil
	}
	stop := runWatcher(t, w)
	waitFor(t, 60*time.Second, "the watcher to reach Kafka again", func() bool {
		return len(logs.lines("kafka reachable again")) > 0
	})
	stop()

	if len(calls) != outage {
		t.Fatalf("%d waits for %d failed attempts: %+v", len(calls), outage, calls)
	}
	for i, c := range calls {
		ceil := min(hi, lo<<i)
		if c.attempt != i+1 || c.d < lo || c.d > ceil {
			t.Errorf("wait %d: attempt %d, %s; want attempt %d, within [%s, %s]", i, c.attempt, c.d, i+1, lo, ceil)
		}
	}
	if w.reach.fails != 0 {
		t.Errorf("backoff not reset after Kafka answered: %d failures remembered", w.reach.fails)
	}
	if n, m := len(logs.lines("kafka unreachable for the models topic")), len(logs.lines("level=")); n != 1 || m != 2 {
		t.Errorf("%d outage lines and %d lines in all for %d failed attempts, want 1 and 2:\n%s",
			n, m, outage, strings.Join(logs.lines(""), "\n"))
	}
	if n := strings.Count(strings.Join(logs.lines(""), "\n"), "component=models"); n != 2 {
		t.Errorf("component=models %d times in 2 lines", n)
	}
}

// TestModelRejectionLoggedOnce: the same forged version pushed twice is
// rejected, counted and evented twice, and logged at error level once.
func TestModelRejectionLoggedOnce(t *testing.T) {
	srv := testenv.StartKafka(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	q := newTestQueue(t)
	w, err := NewModelWatcher(ModelWatcherConfig{Kafka: cfg, Dir: t.TempDir(), Events: q,
		Policy:   modelpkg.Policy{Keys: []ed25519.PublicKey{pub}},
		Activate: func(*modelpkg.Package) error { return nil }}, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w)
	forged := testPackage(t, "4.0.0", randomBytes(1<<16, 3), otherPriv)
	rejected := func() float64 { return testutil.ToFloat64(w.m.deploys.WithLabelValues(modelpkg.ReasonSignature)) }
	for i := 1; i <= 2; i++ {
		publish(t, cfg, forged, 0, WithReleaseKey(priv))
		waitFor(t, 30*time.Second, "the forged version rejected", func() bool { return rejected() == float64(i) })
	}
	if n := len(logs.lines("level=ERROR msg=\"model rejected\"")); n != 1 {
		t.Errorf("rejection logged %d times at error level, want once:\n%s", n, strings.Join(logs.lines(""), "\n"))
	}
	if n := eventTypes(t, q)[EventModelRejected]; n != 2 {
		t.Errorf("%d %s events, want 2", n, EventModelRejected)
	}
}
