package bridge

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/buffer"
)

// stream is the producer's state for one buffer stream. Fields marked (mu)
// are guarded by Producer.mu because promises touch them; the rest belong
// to the pump goroutine.
type stream struct {
	name     string
	topic    string
	nameHdr  []byte             // header value, shared read-only by every record
	ackedC   prometheus.Counter // edgepm_bridge_records_acked_total{stream=name}
	win      seqWindow          // (mu) acknowledged by Kafka
	inflight int                // (mu)
	failed   bool               // (mu) a record failed: rewind once inflight is 0
	lastErr  string             // (mu)

	sent, acked, errs uint64            // (mu) counters for Status
	droppedTooLarge   uint64            // (mu)
	dropped           map[string]uint64 // (mu) by reason
	iso               isolation         // (mu) finding the record of a permanent error
	draining          bool              // (mu) a backlog phase is active (mirror of phase != nil)

	attempts int // (mu) consecutive rewinds without an acknowledgement

	health   streamHealth // (mu) failing: Kafka will not take the stream's topic
	progress time.Time    // (mu) last acknowledgement, or dispatch while none of the stream's were in flight

	// sendCtx is the context of the current generation of sends; a failure
	// cancels it and sets halted, a rewind starts a new one (see dispatch).
	sendCtx    context.Context    // (mu)
	cancelSend context.CancelFunc // (mu)
	halted     atomic.Bool

	next    uint64    // main cursor: every seq <= next was dispatched or skipped
	retryAt time.Time // no dispatch before this (backoff after a failure)
	flushed uint64    // highest seq passed to buffer.Queue.Ack (acker)
	phase   *backlogPhase
}

// start places the cursor and the watermark just below the oldest record
// the buffer holds: sequences need not start at 1 (the buffer starts a new
// stream at a time-based floor) and what was acknowledged before a restart
// is gone. So a backlog is measured from what is stored, not from 0.
func (s *stream) start(ss buffer.StreamStats) {
	base := ss.LastSeq
	if ss.Records > 0 && ss.FirstSeq > 0 {
		base = ss.FirstSeq - 1
	}
	s.next, s.flushed = base, base
	s.win.reset(base)
}
