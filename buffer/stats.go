package buffer

import "time"

// Stats is a snapshot of the queue.
type Stats struct {
	Streams    map[string]StreamStats
	Bytes      int64       // stored bytes of all streams (what MaxBytes caps)
	MaxBytes   int64       // the whole-buffer cap
	FileSize   int64       // size of the file on disk
	Conditions []Condition // raised health conditions (see Health)
}

// StreamStats describes one stream.
type StreamStats struct {
	Records      int64
	Bytes        int64     // stored bytes
	OldestTime   time.Time // Time of the oldest stored record; zero when empty
	FirstSeq     uint64    // oldest stored seq; 0 when empty
	LastSeq      uint64    // last assigned seq (persisted; survives acks and restarts)
	Dropped      uint64    // records dropped by caps and TTL, cumulative across restarts
	DroppedBytes uint64
	Appended     uint64 // records appended since Open
	Acked        uint64 // records acked since Open
	Options      StreamOptions
}

// Stats returns a snapshot. It does not touch the disk.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{
		Streams:    make(map[string]StreamStats, len(q.streams)),
		MaxBytes:   q.opts.MaxBytes,
		FileSize:   q.fileSize,
		Conditions: q.conditionsLocked(),
	}
	for name, st := range q.streams {
		s.Streams[name] = st.stats()
		s.Bytes += st.bytes
	}
	return s
}

func (st *streamState) stats() StreamStats {
	return StreamStats{
		Records: st.records, Bytes: st.bytes, OldestTime: st.oldest,
		FirstSeq: st.firstSeq, LastSeq: st.lastSeq,
		Dropped: st.dropped, DroppedBytes: st.droppedBytes,
		Appended: st.appended, Acked: st.acked, Options: st.opts,
	}
}
