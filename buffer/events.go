package buffer

import (
	"math"
	"sort"
	"time"
)

// Event types the queue writes into the events stream (Event envelope, see
// event.go and docs/formats/buffer.md).
const (
	// EventDropped: records dropped from one stream for one reason since the
	// previous such event (coalesced over Options.DropEventInterval). Detail:
	// stream, reason (stream_cap | buffer_cap | ttl), records, bytes,
	// first_seq, last_seq, since (unix ms of the first drop counted).
	EventDropped = "buffer.dropped"
	// EventRecovered: the buffer file was unusable at Open and was moved
	// aside. Detail: moved_to, error, salvaged_records, unreadable_records,
	// seq_jumped.
	EventRecovered = "buffer.recovered"
)

type dropKey struct{ stream, reason string }

type dropAgg struct {
	records  uint64
	bytes    int64
	firstSeq uint64
	lastSeq  uint64
	since    time.Time
}

// dropped counts a drop in the stream, the pending event and the metrics.
func (t *txn) dropped(st *streamState, reason string, seqs []uint64, freed int64) {
	st.dropped += uint64(len(seqs))
	st.droppedBytes += uint64(freed)
	t.dropDirty[st.name] = true
	k := dropKey{st.name, reason}
	a := t.drops[k]
	if a == nil {
		a = &dropAgg{firstSeq: seqs[0], since: t.now}
		t.drops[k] = a
	}
	a.records += uint64(len(seqs))
	a.bytes += freed
	a.lastSeq = max(a.lastSeq, seqs[len(seqs)-1])
	a.firstSeq = min(a.firstSeq, seqs[0])
	t.dropLog = append(t.dropLog, dropNote{st.name, reason, len(seqs), freed})
}

// maintain expires records past their TTL (when ticking) and writes the
// pending drop events that are due.
func (t *txn) maintain(tick bool) {
	if tick {
		for _, name := range t.q.order {
			st := t.st[name]
			if st.opts.TTL <= 0 || st.records == 0 {
				continue
			}
			cutoff := t.now.Add(-st.opts.TTL)
			if !st.oldest.Before(cutoff) {
				continue
			}
			// A failed delete leaves the tx dirty; the commit reports it.
			_, _, _ = t.deleteFront(name, func(_ uint64, v []byte) bool {
				tm, ok := frameTime(v)
				return ok && tm.Before(cutoff)
			}, ReasonTTL)
		}
		t.trimOverCap()
	}
	t.emitDropEvents()
}

// trimOverCap drops the oldest records of DropOldest streams that hold more
// than their own cap, which happens only after the cap was lowered: without
// it a stream above its cap could keep the lowest-priority streams from
// finding room at the buffer cap. A Block stream keeps its records (they
// are never dropped); it takes no new ones until acks bring it under its cap.
func (t *txn) trimOverCap() {
	for _, name := range t.q.order {
		st := t.st[name]
		if st.opts.Overflow != DropOldest || st.opts.MaxBytes <= 0 || st.bytes <= st.opts.MaxBytes {
			continue
		}
		// A failed delete leaves the tx dirty; the commit reports it.
		_ = t.dropOldest(name, st.bytes-st.opts.MaxBytes, ReasonStreamCap)
	}
}

// emitDropEvents appends one event per pending (stream, reason) into the
// events stream, at most once per DropEventInterval (always when closing).
//
// Room for the events may itself cost drops (readings at the buffer cap, old
// events at the events cap), and those belong in these same events, or a
// full buffer would always owe one report. So room is made first for the
// widest events the pending keys can produce, then the real events (now
// including the drops the room cost) are written into it.
func (t *txn) emitDropEvents() {
	if len(t.drops) == 0 || t.st[StreamEvents] == nil {
		return
	}
	if !t.final && t.now.Sub(t.lastDropEvent) < t.q.opts.DropEventInterval {
		return
	}
	t.lastDropEvent = t.now
	rejected := t.rejected
	defer func() { t.rejected = rejected }() // an event that must wait is not a caller's ErrFull
	// A round adds a key only when making room hits a new (stream, reason).
	for range 3 {
		keys := t.dropKeys()
		recs, sizes := t.dropEventRecords(keys, true)
		if t.makeRoom(recs, sizes) != nil {
			return // no room: they stay pending
		}
		if len(t.drops) == len(keys) {
			break
		}
	}
	keys := t.dropKeys()
	recs, sizes := t.dropEventRecords(keys, false)
	if _, _, err := t.append(recs, sizes); err != nil {
		return
	}
	for _, k := range keys {
		delete(t.drops, k)
	}
}

// dropKeys returns the pending drop keys in a stable order.
func (t *txn) dropKeys() []dropKey {
	keys := make([]dropKey, 0, len(t.drops))
	for k := range t.drops {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].stream != keys[j].stream {
			return keys[i].stream < keys[j].stream
		}
		return keys[i].reason < keys[j].reason
	})
	return keys
}

// dropEventRecords builds the events for keys; widest fills every number
// with its widest value, for an upper bound of the size.
func (t *txn) dropEventRecords(keys []dropKey, widest bool) ([]Record, []int) {
	recs := make([]Record, len(keys))
	sizes := make([]int, len(keys))
	for i, k := range keys {
		a := *t.drops[k]
		since := a.since.UnixMilli()
		if widest {
			a = dropAgg{records: math.MaxUint64, bytes: math.MinInt64, firstSeq: math.MaxUint64, lastSeq: math.MaxUint64}
			since = math.MinInt64
		}
		d := map[string]any{"stream": k.stream, "reason": k.reason, "records": a.records, "bytes": a.bytes,
			"first_seq": a.firstSeq, "last_seq": a.lastSeq, "since": since}
		recs[i] = t.q.eventRecord(EventDropped, t.now, d)
		if widest {
			recs[i].Time = time.Unix(0, math.MinInt64) // widest ts
		}
		sizes[i] = encodedLen(&recs[i])
	}
	return recs, sizes
}

func (q *Queue) eventRecord(typ string, now time.Time, detail map[string]any) Record {
	return NewEventRecord(string(q.opts.EventKey), typ, now, detail)
}
