package buffer

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

type reqKind uint8

const (
	reqAppend reqKind = iota
	reqAck
	reqMaintain
)

const (
	statePending int32 = iota
	stateClaimed
	stateCancelled
)

// request is one caller's share of a group commit.
type request struct {
	kind   reqKind
	recs   []Record // reqAppend: the caller's slice; Seq/Time set after commit
	sizes  []int    // framed size of each record
	stream string   // reqAck
	upTo   uint64   // reqAck
	state  atomic.Int32
	done   chan error

	seqs  []uint64 // staged by the committer
	times []time.Time
}

// errNoRoom rejects one append request inside an otherwise good commit.
var errNoRoom = errors.New("no room")

// errNoop rolls back a transaction that changed nothing (no fsync).
var errNoop = errors.New("nothing to commit")

// submit hands r to the committer and waits for its result. When ctx ends
// before the committer claimed r, r is withdrawn and ctx's error returned;
// once claimed, the commit is waited for (it is bounded by one fsync).
func (q *Queue) submit(ctx context.Context, r *request) error {
	r.done = make(chan error, 1)
	q.closeMu.RLock()
	if q.closed {
		q.closeMu.RUnlock()
		return ErrClosed
	}
	q.senders.Add(1)
	q.closeMu.RUnlock()
	select {
	case q.reqs <- r:
		q.senders.Done()
	case <-ctx.Done():
		q.senders.Done()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(statePending, stateCancelled) {
			return ctx.Err()
		}
		return <-r.done
	}
}

// run is the committer: the only goroutine that writes to the database.
func (q *Queue) run() {
	defer close(q.done)
	tick := time.NewTicker(q.opts.MaintenanceInterval)
	defer tick.Stop()
	q.commit(nil, false) // maintenance at Open: TTL, streams above a lowered cap
	for {
		select {
		case r := <-q.reqs:
			q.commit(q.gather(r), false)
		case <-tick.C:
			q.commit(nil, false)
		case c := <-q.swapReq:
			c.swap <- q.swapIn(c)
		case <-q.quit:
			for {
				select {
				case r := <-q.reqs:
					q.commit(q.gather(r), false)
				default:
					q.commit(nil, true)
					return
				}
			}
		}
	}
}

// gather collects the requests already waiting (and, with CommitDelay, those
// arriving within it) into one batch of at most MaxBatchRecords records.
func (q *Queue) gather(first *request) []*request {
	batch := []*request{first}
	n := len(first.recs)
	var linger <-chan time.Time
	if q.opts.CommitDelay > 0 {
		t := time.NewTimer(q.opts.CommitDelay)
		defer t.Stop()
		linger = t.C
	}
	for n < q.opts.MaxBatchRecords {
		select {
		case r := <-q.reqs:
			batch = append(batch, r)
			n += len(r.recs)
			continue
		default:
		}
		if linger == nil {
			break
		}
		select {
		case r := <-q.reqs:
			batch = append(batch, r)
			n += len(r.recs)
		case <-linger:
			return batch
		}
	}
	return batch
}

// commit applies a batch in one bbolt transaction (one fsync) and answers
// every request. With a nil batch it only does maintenance (TTL, drop events).
func (q *Queue) commit(batch []*request, final bool) {
	live := batch[:0]
	tick := len(batch) == 0 || final
	for _, r := range batch {
		tick = tick || r.kind == reqMaintain
		if r.state.CompareAndSwap(statePending, stateClaimed) {
			live = append(live, r)
		}
	}
	if q.dirPending {
		if err := q.syncDirRetry(); err != nil {
			q.commitFailed(live, fmt.Errorf("directory fsync after compaction: %w", err))
			return
		}
		q.dirPending = false
	}
	t := q.begin(final)
	results := make([]error, len(live))
	start := time.Now()
	err := q.update(func(tx *bolt.Tx) error {
		t.tx = tx
		for i, r := range live {
			err := t.apply(r)
			if err != nil && !errors.Is(err, errNoRoom) {
				return err
			}
			results[i] = err
		}
		t.maintain(tick)
		if !t.dirty {
			return errNoop
		}
		return t.writeMeta()
	})
	if errors.Is(err, errNoop) {
		err = nil
	} else if t.dirty {
		q.m.observeCommit(time.Since(start), t.appended, err)
	}
	if err != nil {
		q.commitFailed(live, err)
		return
	}
	q.finish(t, live, results)
}

// update runs fn in a write transaction, containing bbolt panics.
func (q *Queue) update(fn func(*bolt.Tx) error) error {
	q.dbMu.RLock()
	defer q.dbMu.RUnlock()
	return guardedSameGoroutine(func() error { return q.db.Update(fn) })
}

func guardedSameGoroutine(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked: %v", r)
		}
	}()
	return fn()
}

// commitFailed answers every request of a failed transaction.
func (q *Queue) commitFailed(live []*request, err error) {
	werr := fmt.Errorf("%w: %w", ErrWrite, err)
	q.log.Error("buffer commit failed", "err", err, "requests", len(live))
	q.setCondition(CondWriteFailed, SeverityError, err.Error())
	for _, r := range live {
		r.done <- werr
	}
}

// finish publishes a committed transaction's state and answers the requests.
func (q *Queue) finish(t *txn, live []*request, results []error) {
	q.mu.Lock()
	for name, st := range t.st {
		q.streams[name].publish(st)
	}
	delete(q.health, CondWriteFailed)
	if t.rejected {
		q.setConditionLocked(CondFull, SeverityWarning, "a stream is at its cap: appends wait or fail with ErrFull")
	} else if t.appended > 0 || t.freed > 0 {
		delete(q.health, CondFull)
	}
	q.mu.Unlock()
	q.drops = t.drops
	q.lastDropEvent = t.lastDropEvent
	q.m.observeDrops(t.dropLog)
	q.refreshFileSize()
	q.maybeCompact() // before answering: a caller sees the compaction started
	for i, r := range live {
		if r.kind == reqAppend && results[i] == nil {
			for j := range r.recs {
				r.recs[j].Seq, r.recs[j].Time = r.seqs[j], r.times[j]
			}
		}
		r.done <- results[i]
	}
	if t.freed > 0 {
		q.spaceFreed()
	}
}

// maintainNow runs TTL expiry and due drop events now (tests).
func (q *Queue) maintainNow(ctx context.Context) error {
	return q.submit(ctx, &request{kind: reqMaintain})
}
