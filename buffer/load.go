package buffer

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// load creates missing stream buckets and rebuilds the in-memory state of
// every stream from the file (one cursor pass), and records a recovery.
//
// A stream without a sequence mark (a new file, or a stream configured for
// the first time) starts at the sequence floor, the current Unix time in
// microseconds, not at 0: a reinstalled data dir must not issue sequences a
// consumer de-duplicating on (gateway, stream, seq) has already seen.
func (q *Queue) load(rec *recovery) error {
	floor := seqFloor(q.opts.Now())
	return q.db.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(metaBucket)
		for name, st := range q.streams {
			b, err := tx.CreateBucketIfNotExists(st.bucket)
			if err != nil {
				return fmt.Errorf("create stream %s: %w", name, err)
			}
			if mb.Get([]byte(seqPrefix+name)) == nil {
				if err := putU64(mb, seqPrefix+name, floor); err != nil {
					return fmt.Errorf("seed stream %s: %w", name, err)
				}
			}
			st.lastSeq = getU64(mb, seqPrefix+name)
			st.dropped, st.droppedBytes = getDrops(mb, name)
			scanStream(b, st)
		}
		q.warnUnconfigured(tx)
		if rec != nil {
			return q.noteRecovery(tx, rec)
		}
		return nil
	})
}

// seqFloor is where the sequences of a new stream (and of every stream after
// its metadata was lost) start: the Unix time in microseconds. It stays above
// any sequence an earlier file on this gateway can have issued as long as
// that file's streams averaged under a million records per second and the
// clock did not go back.
func seqFloor(now time.Time) uint64 { return uint64(max(now.UnixMicro(), 0)) }

// scanStream counts a stream's records and bytes.
func scanStream(b *bolt.Bucket, st *streamState) {
	c := b.Cursor()
	k, v := c.First()
	if k == nil {
		return
	}
	st.firstSeq = keySeq(k)
	st.oldest, _ = frameTime(v)
	for ; k != nil; k, v = c.Next() {
		st.records++
		st.bytes += storedSize(len(v))
		st.lastSeq = max(st.lastSeq, keySeq(k))
	}
}

func (q *Queue) warnUnconfigured(tx *bolt.Tx) {
	_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if s, ok := streamName(name); ok && q.streams[s] == nil {
			q.log.Warn("buffer file holds a stream that is not configured; its records are kept but not served", "stream", s)
		}
		return nil
	})
}

// noteRecovery writes the record Options.OnRecover makes of the recovery
// (in the transaction that sets up the fresh file) and raises CondRecovered.
func (q *Queue) noteRecovery(tx *bolt.Tx, rec *recovery) error {
	now := q.opts.Now()
	q.m.recovered.Inc()
	if q.opts.OnRecover != nil {
		r, ok := q.opts.OnRecover(RecoveryReport{MovedTo: rec.movedTo, Err: rec.cause, Salvaged: rec.salvaged,
			Unreadable: rec.lost, SeqJumped: !rec.metaFound, At: now})
		if err := q.putRecovered(tx, r, ok, now); err != nil {
			return err
		}
	}
	q.health[CondRecovered] = Condition{Name: CondRecovered, Severity: SeverityError, Since: now,
		Message: fmt.Sprintf("buffer file was unusable (%v); moved to %s; salvaged %d records, %d unreadable",
			rec.cause, rec.movedTo, rec.salvaged, rec.lost)}
	return nil
}

// putRecovered stores the recovery's record r (when ok and its stream is
// configured) as the next record of its stream.
func (q *Queue) putRecovered(tx *bolt.Tx, r Record, ok bool, now time.Time) error {
	st := q.streams[r.Stream]
	if !ok || st == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = now
	}
	r.Seq = st.lastSeq + 1
	val := appendRecord(nil, &r)
	if err := tx.Bucket(st.bucket).Put(seqKey(r.Seq), val); err != nil {
		return err
	}
	st.lastSeq = r.Seq
	st.records++
	st.bytes += storedSize(len(val))
	if st.firstSeq == 0 {
		st.firstSeq, st.oldest = r.Seq, r.Time
	}
	return putU64(tx.Bucket(metaBucket), seqPrefix+r.Stream, r.Seq)
}

// salvage copies every readable record of the moved-aside file into the
// fresh one (best effort) so a corrupt page does not cost the whole backlog.
// It walks the file with bbolt, bounded by CheckTimeout; when bbolt cannot
// open or walk it (truncated, pages overwritten), it scans the pages instead
// and recovers every record whose own checksum is intact (pagescan.go).
// Sequence numbers are kept; when the old meta is unreadable (or only the
// page scan read the file: a stale copy of the meta may be all that is
// left), every stream's next sequence jumps to at least the current Unix
// time in microseconds, above any sequence the old file can have issued, so
// consumers de-duplicating on (gateway, stream, seq) never drop new records
// as old ones.
func (q *Queue) salvage(rec *recovery) {
	seqs := make(map[string]uint64)
	if !errors.Is(rec.cause, errEmptyFile) {
		if err := q.salvageBolt(rec, seqs); err != nil && !errors.Is(err, errWalkTimeout) {
			q.log.Warn("buffer salvage: bbolt cannot read the moved file; scanning its pages", "err", err)
			q.salvagePages(rec, seqs)
		} else if err != nil {
			q.log.Warn("buffer salvage stopped early", "err", err, "salvaged", rec.salvaged)
		}
	}
	floor := uint64(0)
	if !rec.metaFound {
		floor = seqFloor(q.opts.Now())
	}
	err := q.db.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(metaBucket)
		for name := range q.streams {
			if err := putU64(mb, seqPrefix+name, max(seqs[name], floor)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		q.log.Error("buffer salvage: writing sequence marks failed", "err", err)
	}
}

// salvageBolt copies the readable records through bbolt.
func (q *Queue) salvageBolt(rec *recovery, seqs map[string]uint64) error {
	old, err := openRO(rec.movedTo, q.opts.LockTimeout)
	if err != nil {
		return err
	}
	err = q.copyReadable(old, rec, seqs)
	_ = old.Close()
	return err
}

// salvagePages recovers the records of a file bbolt cannot read by a page
// scan, replacing what a failed bbolt walk may have copied already (records
// are put by key, so a record copied twice is stored once).
func (q *Queue) salvagePages(rec *recovery, seqs map[string]uint64) {
	var batch []salvageItem
	rep, err := scanFile(rec.movedTo, q.opts.StreamOf, func(stream string, seq uint64, framed []byte) error {
		seqs[stream] = max(seqs[stream], seq)
		batch = append(batch, salvageItem{stream, seqKey(seq), bytes.Clone(framed)})
		if len(batch) < 4096 {
			return nil
		}
		err := q.putSalvaged(batch)
		batch = batch[:0]
		return err
	})
	if len(batch) > 0 {
		err = joinErr(err, q.putSalvaged(batch))
	}
	rec.metaFound = false
	rec.salvaged, rec.lost = rep.Recovered, rep.Damaged+rep.Unattributed
	q.log.Warn("buffer salvage: page scan done", "pages", rep.Pages, "intact_records", rep.Intact,
		"recovered", rep.Recovered, "unattributed", rep.Unattributed, "damaged", rep.Damaged, "err", err)
}

type salvageItem struct {
	stream string
	key    []byte
	val    []byte
}

// putSalvaged stores salvaged records (any stream, configured or not).
func (q *Queue) putSalvaged(batch []salvageItem) error {
	return q.db.Update(func(tx *bolt.Tx) error {
		for _, it := range batch {
			b, err := tx.CreateBucketIfNotExists(streamBucket(it.stream))
			if err != nil {
				return err
			}
			if err := b.Put(it.key, it.val); err != nil {
				return err
			}
		}
		return nil
	})
}

func (q *Queue) copyReadable(old *bolt.DB, rec *recovery, seqs map[string]uint64) error {
	deadline := time.Now().Add(q.opts.CheckTimeout)
	var batch []salvageItem
	flush := func() error {
		err := q.putSalvaged(batch)
		batch = batch[:0]
		return err
	}
	err := guarded(func() error {
		return old.View(func(tx *bolt.Tx) error {
			if mb := tx.Bucket(metaBucket); mb != nil && mb.Get(keyFormat) != nil {
				rec.metaFound = true
				for name := range q.streams {
					seqs[name] = getU64(mb, seqPrefix+name)
				}
			}
			return walkRecords(tx, deadline, func(stream string, seq uint64, r Record, _ int64, err error) error {
				if err != nil {
					rec.lost++
					return nil
				}
				seqs[stream] = max(seqs[stream], seq)
				batch = append(batch, salvageItem{stream, seqKey(seq), appendRecord(nil, &r)})
				rec.salvaged++
				if len(batch) >= 4096 {
					return flush()
				}
				return nil
			})
		})
	})
	if len(batch) > 0 {
		err = joinErr(err, flush())
	}
	return err
}

func joinErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
