package bridge

import (
	"context"
	"time"
)

// Bounds of the model watcher's backoff between attempts to reach Kafka
// (ModelWatcherConfig.RetryBackoffMin and RetryBackoffMax defaults).
const (
	defaultWatcherBackoffMin = time.Second
	defaultWatcherBackoffMax = time.Minute
)

// reach is the model watcher's view of whether Kafka answers: consecutive
// failed attempts (they set the backoff) and whether the outage was
// logged. It logs one line when Kafka stops answering and one when it
// answers again, whatever the number of attempts. Run's goroutine only.
type reach struct {
	fails int
	since time.Time // first failure of the outage
}

// failed records a failed attempt and returns how long to wait before the
// next: exponential with full jitter from RetryBackoffMin up to
// RetryBackoffMax.
func (w *ModelWatcher) failed(err error) time.Duration {
	r := &w.reach
	r.fails++
	if r.fails == 1 {
		r.since = w.now()
		w.log.Warn("kafka unreachable for the models topic; retrying with backoff (model delivery waits, the current model keeps serving)",
			"err", err, "max_backoff", w.cfg.RetryBackoffMax)
	}
	w.log.Debug("models topic attempt failed", "attempt", r.fails, "err", err)
	return backoff(r.fails, w.cfg.RetryBackoffMin, w.cfg.RetryBackoffMax)
}

// succeeded resets the backoff after Kafka answered.
func (w *ModelWatcher) succeeded() {
	r := &w.reach
	if r.fails > 0 {
		w.log.Info("kafka reachable again for the models topic", "failed_attempts", r.fails,
			"after", w.now().Sub(r.since).Round(time.Millisecond))
	}
	r.fails = 0
}

// kgoBackoff is the watcher client's retry backoff (kgo.RetryBackoffFn):
// kgo's own retries of metadata and fetches follow the same bounds instead
// of kgo's default (250 ms to 2.5 s, a reconnect every 2 s or so).
func (w *ModelWatcher) kgoBackoff(tries int) time.Duration {
	return backoff(tries, w.cfg.RetryBackoffMin, w.cfg.RetryBackoffMax)
}

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
