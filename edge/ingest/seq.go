package ingest

// SeqTracker follows one device's payload counter (Reading.DeviceSeq) to
// find readings lost before they reached the gateway: the broker dropping
// QoS 1 messages from a full queue, a QoS 0 message lost on the way, a
// device that buffered less than it promised. Its zero value has seen
// nothing; it is 24 bytes and not safe for concurrent use (the caller
// keeps one per device, in its device registry, under its lock).
//
// For each reading with a counter (0 means absent and is ignored):
//
//   - a counter one above the highest seen is in order;
//   - a counter further above is a gap: the numbers between are missing;
//   - a counter not above the highest seen is either a duplicate (a QoS 1
//     redelivery after a reconnect, which is not a loss) or a reset (the
//     device restarted its counter). It is a reset when the reading is
//     newer (its own timestamp) than every reading seen so far: a
//     redelivered message carries its old timestamp. A payload without a
//     timestamp (Reading.Time is then the receive time) is judged by the
//     last 64 counters instead: one of those seen again is a duplicate.
//
// A reading that arrives late, after a gap was counted for it, counts as
// a duplicate: MQTT delivers a session's messages in order, so this is
// rare, and the missing count then overstates the loss by it.
type SeqTracker struct {
	last   uint64 // highest counter seen since the last reset; 0 = none yet
	seen   uint64 // bit i: counter last-i was seen
	newest int64  // UnixNano of the newest reading's own time
}

// SeqResult is what one reading's counter says.
type SeqResult struct {
	Missing   uint64 // counters skipped before this one (a gap when > 0)
	Reset     bool   // the device restarted its counter
	Duplicate bool   // a counter seen before: a redelivery
}

// Observe records reading r's counter and says what it means.
func (s *SeqTracker) Observe(r *Reading) SeqResult {
	seq := r.DeviceSeq
	if seq == 0 {
		return SeqResult{}
	}
	ts := r.Time.UnixNano()
	switch {
	case s.last == 0:
		s.restart(seq, ts)
		return SeqResult{}
	case seq > s.last:
		missing := seq - s.last - 1
		if d := seq - s.last; d < 64 {
			s.seen = s.seen<<d | 1
		} else {
			s.seen = 1
		}
		s.last = seq
		s.newest = max(s.newest, ts)
		return SeqResult{Missing: missing}
	case s.duplicate(seq, ts, !r.Time.Equal(r.Received)):
		return SeqResult{Duplicate: true}
	default:
		s.restart(seq, ts)
		return SeqResult{Reset: true}
	}
}

// duplicate reports whether seq, not above the highest seen, was seen
// before (see SeqTracker).
func (s *SeqTracker) duplicate(seq uint64, ts int64, hasTime bool) bool {
	if hasTime {
		return ts <= s.newest
	}
	back := s.last - seq
	return back < 64 && s.seen&(1<<back) != 0
}

func (s *SeqTracker) restart(seq uint64, ts int64) {
	s.last, s.seen, s.newest = seq, 1, ts
}
