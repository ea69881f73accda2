package buffer

import (
	"math"
	"sort"
	"time"
)

type dropKey struct{ stream, reason string }

type dropAgg struct {
	records  uint64
	bytes    int64
	firstSeq uint64
	lastSeq  uint64
	since    time.Time
}

// dropped counts a drop in the stream, the pending report and the metrics.
func (t *txn) dropped(st *streamState, reason string, seqs []uint64, freed int64) {
	st.dropped += uint64(len(seqs))
	st.droppedBytes += uint64(freed)
	t.dropDirty[st.name] = true
	t.dropLog = append(t.dropLog, dropNote{st.name, reason, len(seqs), freed})
	if t.q.opts.OnDrop == nil {
		return // counted; nobody to report to
	}
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
}

// maintain expires records past their TTL (when ticking) and writes the
// records of the pending drop reports that are due.
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
	t.emitDropReports()
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

// emitDropReports hands every pending (stream, reason) report to
// Options.OnDrop and appends the records it returns in this transaction, at
// most once per DropEventInterval (always when closing). A drop and its
// report thus reach the file together or not at all, and a report whose
// record finds no room stays pending.
//
// Room for the records may itself cost drops (readings at the buffer cap,
// old events at the events cap), and those belong in these same reports, or
// a full buffer would always owe one. So room is made first for the widest
// records the pending keys can produce, then the real records (now
// including the drops the room cost) are written into it.
func (t *txn) emitDropReports() {
	if len(t.drops) == 0 || t.q.opts.OnDrop == nil {
		return
	}
	if !t.final && t.now.Sub(t.lastDropEvent) < t.q.opts.DropEventInterval {
		return
	}
	t.lastDropEvent = t.now
	rejected := t.rejected
	defer func() { t.rejected = rejected }() // a report that must wait is not a caller's ErrFull
	// A round adds a key only when making room hits a new (stream, reason).
	for range 3 {
		keys := t.dropKeys()
		recs, sizes := t.dropReportRecords(keys, true)
		if t.makeRoom(recs, sizes) != nil {
			return // no room: they stay pending
		}
		if len(t.drops) == len(keys) {
			break
		}
	}
	keys := t.dropKeys()
	recs, sizes := t.dropReportRecords(keys, false)
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

// dropReportRecords asks OnDrop for the records of keys' reports; widest
// reports every number at its widest value, for an upper bound of the size.
// A record for a stream that is not configured is left out (its report is
// dropped with the rest when they are written).
func (t *txn) dropReportRecords(keys []dropKey, widest bool) ([]Record, []int) {
	recs := make([]Record, 0, len(keys))
	sizes := make([]int, 0, len(keys))
	for _, k := range keys {
		a := t.drops[k]
		rep := DropReport{Stream: k.stream, Reason: k.reason, Records: a.records, Bytes: a.bytes,
			FirstSeq: a.firstSeq, LastSeq: a.lastSeq, Since: a.since, At: t.now}
		if widest {
			rep = widestDropReport(k.stream, k.reason, t.now)
		}
		r, ok := t.q.opts.OnDrop(rep)
		if !ok || t.st[r.Stream] == nil {
			continue
		}
		if widest {
			r.Time = time.Unix(0, math.MinInt64) // widest ts
		}
		recs = append(recs, r)
		sizes = append(sizes, encodedLen(&r))
	}
	return recs, sizes
}
