package bridge

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/edgepm/edgepm/internal/wire"
)

// A stream is failing when Kafka will not take its topic: the topic does not
// exist, the gateway may not write it, or (at start) the metadata check did
// not find it. A failing stream keeps its records in the buffer and is
// retried with backoff, holds at most failingInFlight records in flight so
// it cannot starve the other streams, and does not count toward the link's
// liveness. It is reported in Status (StreamStatus.Failing, LastError,
// Status.Conditions), by an uplink.stream_failing event and a warning
// repeated at most every healthLogEvery; its first acknowledgement (or, for
// a topic found missing by the metadata check, the topic appearing) ends it
// with an uplink.stream_recovered event.

// failingInFlight is the most records a failing stream may have in flight:
// enough to notice at once when the topic appears, too few to matter to the
// other streams' budget.
const failingInFlight = 64

// healthLogEvery is how often a stream still failing is logged again.
const healthLogEvery = time.Minute

// streamHealth is a stream's failing state. Guarded by Producer.mu.
type streamHealth struct {
	failing   bool
	since     time.Time
	err       string // why, in the topic's terms
	fromCheck bool   // set by the metadata check, not by a produce
	reported  bool   // the failing event and log line went out
	lastLog   time.Time
	recovered bool // recovered, not yet reported
	downFor   time.Duration
}

// topicError reports whether err says Kafka will not take records for the
// topic at all (rather than for one batch or one broker).
func topicError(err error) bool {
	return errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID) ||
		errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.InvalidTopicException)
}

// fail enters (or refreshes) the failing state.
func (h *streamHealth) fail(now time.Time, why string, fromCheck bool) {
	if !h.failing {
		*h = streamHealth{failing: true, since: now, fromCheck: fromCheck}
	}
	h.err = why
	h.fromCheck = h.fromCheck && fromCheck
}

// ok ends the failing state; the recovery is reported if the failure was.
func (h *streamHealth) ok(now time.Time) {
	if !h.failing {
		return
	}
	rep := h.reported
	*h = streamHealth{recovered: rep, downFor: now.Sub(h.since)}
}

// healthNote is one report flushHealth makes, built under the lock.
type healthNote struct {
	stream, topic, err string
	failing, again     bool
	since              time.Time
	downFor            time.Duration
}

// flushHealth logs and reports failing streams: an event and a warning when
// a stream starts failing, a warning every healthLogEvery while it still
// does, an event and an info line when it recovers. Pump goroutine only
// (appending an event may wait for the buffer).
func (p *Producer) flushHealth(now time.Time) {
	var notes []healthNote
	p.mu.Lock()
	for _, s := range p.streams {
		h := &s.health
		switch {
		case h.recovered:
			h.recovered = false
			notes = append(notes, healthNote{stream: s.name, topic: s.topic, downFor: h.downFor})
		case h.failing && (!h.reported || now.Sub(h.lastLog) >= healthLogEvery):
			notes = append(notes, healthNote{stream: s.name, topic: s.topic, err: h.err, failing: true,
				again: h.reported, since: h.since})
			h.reported, h.lastLog = true, now
		}
	}
	p.mu.Unlock()
	for _, n := range notes {
		switch {
		case !n.failing:
			p.log.Info("kafka takes the stream's topic again; its held records are being sent",
				"stream", n.stream, "topic", n.topic, "failed_for", n.downFor.Round(time.Millisecond))
			p.event(wire.EventStreamRecovered, map[string]any{"stream": n.stream, "topic": n.topic,
				"failed_seconds": n.downFor.Seconds()})
		case n.again:
			p.log.Warn("stream still failing: its records stay in the buffer",
				"stream", n.stream, "topic", n.topic, "since", n.since.UTC().Format(time.RFC3339), "err", n.err)
		default:
			p.log.Warn("kafka does not take the stream's topic: its records stay in the buffer and are retried; create the topic or grant write access",
				"stream", n.stream, "topic", n.topic, "err", n.err)
			p.event(wire.EventStreamFailing, map[string]any{"stream": n.stream, "topic": n.topic, "error": n.err})
		}
	}
}

// streamCap is the most records s may have in flight: a failing stream a
// few, a healthy one the budget less a read batch for each other stream
// (at most half the budget), so a stream Kafka does not answer for cannot
// hold every slot before it is known to be failing. Call with mu held.
func (p *Producer) streamCapLocked(s *stream) int {
	if s.health.failing {
		return min(failingInFlight, p.cfg.MaxInFlight)
	}
	reserve := min(p.cfg.MaxInFlight/2, (len(p.streams)-1)*p.cfg.ReadBatch)
	return p.cfg.MaxInFlight - reserve
}

// failSilentLocked marks failing every stream whose records have waited
// for d without an answer while the link is not stalled (other streams are
// acknowledged): its topic refuses or its partitions have no leader. The
// stream is halted and sent again from its watermark after a backoff, with
// a failing stream's in-flight bound. Monitor goroutine, mu held.
func (p *Producer) failSilentLocked(now time.Time, d time.Duration) {
	for _, s := range p.streams {
		if s.inflight == 0 || s.health.failing || now.Sub(s.progress) <= d {
			continue
		}
		why := "topic " + s.topic + ": no acknowledgement for " + d.String() + " while other streams are acknowledged"
		s.health.fail(now, why, false)
		s.lastErr = why
		s.errs++
		s.failed = true
		s.halted.Store(true)
		if s.cancelSend != nil {
			s.cancelSend()
		}
	}
}
