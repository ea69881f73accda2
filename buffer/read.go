package buffer

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Read returns up to max records of stream with Seq > after, in Seq order.
// The records are copies the caller owns (records of one Read share a few
// allocations, so keeping one keeps up to 64 KB of its neighbours'
// memory reachable; nothing is reused). Records that fail their checksum
// are skipped (counted, CondCorruptRecords raised); an Ack past them
// deletes them. Read does not wait for the committer.
func (q *Queue) Read(stream string, after uint64, max int) ([]Record, error) {
	st, err := q.stream(stream)
	if err != nil {
		return nil, fmt.Errorf("buffer read: %w", err)
	}
	if q.isClosed() {
		return nil, fmt.Errorf("buffer read: %w", ErrClosed)
	}
	if max <= 0 {
		return nil, nil
	}
	q.mu.Lock()
	n := st.records
	if st.lastSeq <= after {
		n = 0
	} else if d := st.lastSeq - after; d < uint64(n) {
		n = int64(d) // records after `after` (read but unacknowledged ones are before it)
	}
	q.mu.Unlock()
	out := make([]Record, 0, min(int64(max), n)) // a capacity hint: the read below decides
	var slab readSlab
	q.dbMu.RLock()
	defer q.dbMu.RUnlock()
	err = q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(st.bucket).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			rec, err := decodeRecordIn(v, &slab)
			if err == nil && rec.Seq != keySeq(k) {
				err = &CorruptError{Reason: "sequence does not match key"}
			}
			if err != nil {
				q.corruptRecord(stream, keySeq(k), err)
				continue
			}
			rec.Stream = stream
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("buffer read %s: %w", stream, err)
	}
	return out, nil
}

func (q *Queue) corruptRecord(stream string, seq uint64, err error) {
	q.m.corruptRecords.Inc()
	q.log.Error("skipping corrupt buffer record", "stream", stream, "seq", seq, "err", err)
	q.setCondition(CondCorruptRecords, SeverityError,
		fmt.Sprintf("skipped corrupt record %s/%d: %v", stream, seq, err))
}

// Ack deletes every record of stream with Seq <= upTo. It is idempotent and
// returns once the deletion is committed (it shares the group commit).
func (q *Queue) Ack(stream string, upTo uint64) error {
	st, err := q.stream(stream)
	if err != nil {
		return fmt.Errorf("buffer ack: %w", err)
	}
	q.mu.Lock()
	nothing := st.firstSeq == 0 || upTo < st.firstSeq
	q.mu.Unlock()
	if nothing {
		if q.isClosed() {
			return fmt.Errorf("buffer ack: %w", ErrClosed)
		}
		return nil
	}
	if err := q.submit(context.Background(), &request{kind: reqAck, stream: stream, upTo: upTo}); err != nil {
		return fmt.Errorf("buffer ack %s: %w", stream, err)
	}
	return nil
}
