package buffer

import (
	"encoding/binary"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// txn is the committer's staged view of one transaction: copies of the
// stream states, published by finish only if the commit succeeds.
type txn struct {
	q        *Queue
	tx       *bolt.Tx
	now      time.Time
	final    bool
	st       map[string]*streamState
	buckets  map[string]*bolt.Bucket
	total    int64 // stored bytes of all streams
	dirty    bool  // something was written
	rejected bool  // an append found no room
	appended int
	freed    int64

	drops         map[dropKey]*dropAgg // pending drop events (copy)
	lastDropEvent time.Time
	dropLog       []dropNote // drops of this transaction, for metrics
	seqDirty      map[string]bool
	dropDirty     map[string]bool
}

type dropNote struct {
	stream, reason string
	records        int
	bytes          int64
}

func (q *Queue) begin(final bool) *txn {
	t := &txn{
		q:             q,
		now:           q.opts.Now(),
		final:         final,
		st:            make(map[string]*streamState, len(q.streams)),
		buckets:       make(map[string]*bolt.Bucket, len(q.streams)),
		drops:         make(map[dropKey]*dropAgg, len(q.drops)),
		lastDropEvent: q.lastDropEvent,
		seqDirty:      make(map[string]bool),
		dropDirty:     make(map[string]bool),
	}
	q.mu.Lock()
	for name, s := range q.streams {
		c := *s
		t.st[name] = &c
		t.total += s.bytes
	}
	q.mu.Unlock()
	for k, v := range q.drops {
		c := *v
		t.drops[k] = &c
	}
	return t
}

func (t *txn) bucket(name string) *bolt.Bucket {
	b := t.buckets[name]
	if b == nil {
		b = t.tx.Bucket(t.st[name].bucket)
		b.FillPercent = 1.0 // keys only ever grow: pack pages full
		t.buckets[name] = b
	}
	return b
}

func (t *txn) apply(r *request) error {
	switch r.kind {
	case reqAppend:
		seqs, times, err := t.append(r.recs, r.sizes)
		r.seqs, r.times = seqs, times
		return err
	case reqAck:
		_, _, err := t.deleteFront(r.stream, func(seq uint64, _ []byte) bool { return seq <= r.upTo }, "")
		return err
	default:
		return nil
	}
}

// append makes room for recs (dropping per policy) and stores them.
func (t *txn) append(recs []Record, sizes []int) ([]uint64, []time.Time, error) {
	if err := t.makeRoom(recs, sizes); err != nil {
		if err == errNoRoom {
			t.rejected = true
		}
		return nil, nil, err
	}
	n := 0
	for _, s := range sizes {
		n += s + 8
	}
	arena := make([]byte, 0, n) // never reallocated: bbolt keeps slices until commit
	seqs := make([]uint64, len(recs))
	times := make([]time.Time, len(recs))
	for i := range recs {
		st := t.st[recs[i].Stream]
		rec := recs[i]
		rec.Seq = st.lastSeq + 1
		if rec.Time.IsZero() {
			rec.Time = t.now
		}
		start := len(arena)
		arena = appendRecord(arena, &rec)
		arena = append(arena, seqKey(rec.Seq)...)
		val, key := arena[start:len(arena)-8], arena[len(arena)-8:]
		if err := t.bucket(st.name).Put(key, val); err != nil {
			return nil, nil, err
		}
		t.added(st, rec.Seq, rec.Time, storedSize(len(val)))
		seqs[i], times[i] = rec.Seq, rec.Time
	}
	t.appended += len(recs)
	return seqs, times, nil
}

func (t *txn) added(st *streamState, seq uint64, tm time.Time, size int64) {
	st.lastSeq = seq
	st.records++
	st.bytes += size
	if st.firstSeq == 0 {
		st.firstSeq, st.oldest = seq, tm
	}
	st.appended++
	t.total += size
	t.dirty = true
	t.seqDirty[st.name] = true
}

// deleteFront deletes the stream's records from the oldest while keep
// returns true. A non-empty reason counts them as dropped.
func (t *txn) deleteFront(name string, del func(seq uint64, v []byte) bool, reason string) (int, int64, error) {
	st := t.st[name]
	if st.records == 0 {
		return 0, 0, nil
	}
	b := t.bucket(name)
	var seqs []uint64
	var freed int64
	// One cursor deletes the front record and seeks past it, over and over:
	// no allocation per record (Bucket.Delete makes a cursor each time), no
	// Cursor.Next after Cursor.Delete, which can skip a record
	// (etcd-io/bbolt#146), and no Cursor.First, which would walk over every
	// leaf emptied so far (they are only removed at commit).
	c := b.Cursor()
	var next [8]byte
	for k, v := c.First(); k != nil && del(keySeq(k), v); k, v = c.Seek(next[:]) {
		seq := keySeq(k)
		seqs = append(seqs, seq)
		freed += storedSize(len(v))
		if err := c.Delete(); err != nil {
			return 0, 0, err
		}
		if seq == math.MaxUint64 {
			break
		}
		binary.BigEndian.PutUint64(next[:], seq+1)
	}
	if len(seqs) == 0 {
		return 0, 0, nil
	}
	st.records -= int64(len(seqs))
	st.bytes -= freed
	t.total -= freed
	t.freed += freed
	t.dirty = true
	st.firstSeq, st.oldest = 0, time.Time{}
	if k, v := b.Cursor().First(); k != nil {
		st.firstSeq = keySeq(k)
		st.oldest, _ = frameTime(v)
	}
	if reason == "" {
		st.acked += uint64(len(seqs))
	} else {
		t.dropped(st, reason, seqs, freed)
	}
	return len(seqs), freed, nil
}

// dropOldest drops at least want bytes from the front of a stream.
func (t *txn) dropOldest(name string, want int64, reason string) error {
	var got int64
	_, _, err := t.deleteFront(name, func(_ uint64, v []byte) bool {
		if got >= want {
			return false
		}
		got += storedSize(len(v))
		return true
	}, reason)
	return err
}

// writeMeta persists the sequence high-water marks and drop counters.
func (t *txn) writeMeta() error {
	mb := t.tx.Bucket(metaBucket)
	for name := range t.seqDirty {
		if err := putU64(mb, seqPrefix+name, t.st[name].lastSeq); err != nil {
			return err
		}
	}
	for name := range t.dropDirty {
		st := t.st[name]
		if err := putDrops(mb, name, st.dropped, st.droppedBytes); err != nil {
			return err
		}
	}
	return nil
}
