package bridge

import "time"

// stream is the producer's state for one buffer stream. Fields marked (mu)
// are guarded by Producer.mu because promises touch them; the rest belong
// to the pump goroutine.
type stream struct {
	name     string
	topic    string
	nameHdr  []byte    // header value, shared read-only by every record
	win      seqWindow // (mu) acknowledged by Kafka
	inflight int       // (mu)
	failed   bool      // (mu) a record failed: rewind once inflight is 0
	lastErr  string    // (mu)

	sent, acked, errs uint64 // (mu) counters for Status
	droppedTooLarge   uint64 // (mu)
	draining          bool   // (mu) a backlog phase is active (mirror of phase != nil)

	attempts int // (mu) consecutive rewinds without an acknowledgement

	next    uint64    // main cursor: every seq <= next was dispatched or skipped
	retryAt time.Time // no dispatch before this (backoff after a failure)
	flushed uint64    // highest seq passed to buffer.Queue.Ack (acker)
	phase   *backlogPhase
}
