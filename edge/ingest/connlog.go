package ingest

import (
	"log/slog"
	"sync"
	"time"
)

// Bounds of the interval between log lines about failed connection
// attempts: the first failure is logged at once, later ones at doubling
// intervals up to maxConnLogEvery (paho retries far more often).
const (
	firstConnLogEvery = 10 * time.Second
	maxConnLogEvery   = 5 * time.Minute
)

// connAttempts logs failed attempts to reach the broker with backoff: one
// line for the first failure, then one per interval (doubling up to
// maxConnLogEvery) saying how many attempts failed since, and one when the
// connection comes up after failures. Safe for concurrent use.
type connAttempts struct {
	mu       sync.Mutex
	failed   int       // failures since the last line
	total    int       // failures since the last connection
	next     time.Time // no line before this
	interval time.Duration
}

// fail records a failed attempt and logs it when a line is due.
func (c *connAttempts) fail(log *slog.Logger, broker string, err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed++
	c.total++
	if now.Before(c.next) {
		return
	}
	if c.interval == 0 {
		c.interval = firstConnLogEvery
	}
	log.Warn("mqtt broker unreachable; retrying", "broker", broker, "err", err,
		"failed_attempts", c.failed, "next_log_in", c.interval)
	c.failed = 0
	c.next = now.Add(c.interval)
	c.interval = min(2*c.interval, maxConnLogEvery)
}

// connected resets the backoff and returns how many attempts failed before.
func (c *connAttempts) connected() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.total
	c.failed, c.total, c.next, c.interval = 0, 0, time.Time{}, 0
	return n
}
