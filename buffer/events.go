package buffer

import (
	"encoding/json"
	"sort"
	"time"
)

// Event types the queue writes into the events stream (JSON values, see
// docs/formats/buffer.md).
const (
	EventDropped   = "buffer.dropped"
	EventRecovered = "buffer.recovered"
)

// DropEvent is the value of an EventDropped record: records dropped from one
// stream for one reason since the previous such event (coalesced over
// Options.DropEventInterval).
type DropEvent struct {
	Type     string    `json:"type"` // "buffer.dropped"
	Time     time.Time `json:"time"`
	Stream   string    `json:"stream"`
	Reason   string    `json:"reason"` // stream_cap | buffer_cap | ttl
	Records  uint64    `json:"records"`
	Bytes    int64     `json:"bytes"`
	FirstSeq uint64    `json:"first_seq"` // lowest dropped seq
	LastSeq  uint64    `json:"last_seq"`  // highest dropped seq
	Since    time.Time `json:"since"`     // first drop counted in this event
}

// RecoveredEvent is the value of an EventRecovered record: the buffer file
// was unusable at Open and was moved aside.
type RecoveredEvent struct {
	Type      string    `json:"type"` // "buffer.recovered"
	Time      time.Time `json:"time"`
	MovedTo   string    `json:"moved_to"`
	Error     string    `json:"error"`
	Salvaged  int64     `json:"salvaged_records"`
	Lost      int64     `json:"unreadable_records"`
	SeqJumped bool      `json:"seq_jumped"` // sequences restarted above the old ones (meta lost)
}

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
	}
	t.emitDropEvents()
}

// emitDropEvents appends one event per pending (stream, reason) into the
// events stream, at most once per DropEventInterval (always when closing).
func (t *txn) emitDropEvents() {
	if len(t.drops) == 0 || t.st[StreamEvents] == nil {
		return
	}
	if !t.final && t.now.Sub(t.lastDropEvent) < t.q.opts.DropEventInterval {
		return
	}
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
	for _, k := range keys {
		a := t.drops[k]
		v, _ := json.Marshal(DropEvent{Type: EventDropped, Time: t.now.UTC(), Stream: k.stream, Reason: k.reason,
			Records: a.records, Bytes: a.bytes, FirstSeq: a.firstSeq, LastSeq: a.lastSeq, Since: a.since.UTC()})
		if t.putEvent(v) {
			delete(t.drops, k)
		}
	}
	t.lastDropEvent = t.now
}

// putEvent appends an event record; false when it does not fit (it stays pending).
func (t *txn) putEvent(value []byte) bool {
	rec := []Record{t.q.eventRecord(value, t.now)}
	rejected := t.rejected
	_, _, err := t.append(rec, []int{encodedLen(&rec[0])})
	t.rejected = rejected // an event that must wait is not a caller's ErrFull
	return err == nil
}

func (q *Queue) eventRecord(value []byte, now time.Time) Record {
	return Record{
		Stream:  StreamEvents,
		Time:    now,
		Key:     q.opts.EventKey,
		Value:   value,
		Headers: []Header{{Key: "edgepm-schema", Value: []byte("1")}},
	}
}
