package buffer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pageSize of new files: 16 KiB packs records of a few KiB into pages with
// little slack (4 KiB pages waste up to a quarter of the file on 3 KB
// records). Existing files keep the page size they were created with.
const pageSize = 16 << 10

// compactSuffix names the temporary copy; a leftover one (crash during
// compaction) is removed at Open.
const compactSuffix = ".compact"

// Compaction bounds.
const (
	// compactSwapWork bounds the records the committer copies or deletes
	// while commits wait (the final catch-up before the swap); with more
	// outstanding, the compactor does another pass first.
	compactSwapWork = 16384
	// compactPasses bounds the catch-up passes of one compaction.
	compactPasses = 50
	// compactRetry is how long a failed compaction waits before the next.
	compactRetry = time.Minute
)

// errSwapLater makes the compactor run another pass before the swap.
var errSwapLater = errors.New("compaction: too much to catch up; another pass first")

// maybeCompact starts a compaction when the file has outgrown its bound
// while the queue is small: file > CompactRatio × MaxBytes (and >
// CompactMinBytes) with at most half the cap in use. bbolt reuses freed
// pages but never shrinks a file, so this is what gives disk back after,
// say, the cap was lowered. Runs on the committer; the copy runs on its own
// goroutine and commits go on meanwhile (see compactor).
func (q *Queue) maybeCompact() {
	if q.opts.CompactRatio < 0 || q.compactRun.Load() != nil {
		return
	}
	q.mu.Lock()
	later := q.opts.Now().Before(q.compactAfter)
	size := q.fileSize
	var used int64
	for _, st := range q.streams {
		used += st.bytes
	}
	q.mu.Unlock()
	limit := max(int64(q.opts.CompactRatio*float64(q.opts.MaxBytes)), q.opts.CompactMinBytes)
	if later || size <= limit || used > q.opts.MaxBytes/2 {
		return
	}
	c := &compaction{q: q, before: size, start: time.Now(), done: make(chan struct{}),
		marks: make(map[string]*copyMark), swap: make(chan error, 1)}
	q.compactRun.Store(c)
	q.compactWG.Add(1)
	go c.run()
}

// compaction copies the live data into path.compact while commits go on,
// then has the committer swap the files.
//
//  1. Passes (compactor goroutine): every bucket is copied in chunks, each
//     read in its own short read transaction of the live file, into the new
//     file (written without fsync). Records are only ever appended at a
//     stream's end and deleted from its front, so a pass copies the keys
//     after the last one copied and deletes, in the copy, the keys the live
//     file no longer has at the front. Passes repeat until one has little
//     left to do, then the copy is fsynced (still off the commit path).
//  2. Swap (committer, commits wait): a last pass copies what the final
//     commits changed (at most compactSwapWork records, else back to 1) and
//     the meta bucket, fsyncs the copy, renames it over path, fsyncs the
//     directory and makes it the live database. The old handle is closed
//     only after the rename, and the new one is the handle already open on
//     the copy: there is no reopen that could fail and leave the queue
//     without a database.
type compaction struct {
	q      *Queue
	dst    *bolt.DB
	tmp    string
	marks  map[string]*copyMark // per bucket
	before int64
	start  time.Time
	swap   chan error // the committer's answer to a swap request
	done   chan struct{}
}

func (c *compaction) run() {
	q := c.q
	defer q.compactWG.Done()
	defer close(c.done)
	defer q.compactRun.Store(nil)
	err := c.copyAndSwap()
	if err == nil {
		q.refreshFileSize()
		q.log.Info("buffer compacted", "before", c.before, "after", q.Stats().FileSize, "took", time.Since(c.start))
		return
	}
	if c.dst != nil {
		_ = c.dst.Close()
		_ = os.Remove(c.tmp)
	}
	q.compactAfterSet(q.opts.Now().Add(compactRetry))
	if !errors.Is(err, ErrClosed) {
		q.log.Error("buffer compaction failed; the queue goes on with the old file", "err", err)
	}
}

func (c *compaction) copyAndSwap() error {
	q := c.q
	c.tmp = q.path + compactSuffix
	_ = os.Remove(c.tmp)
	dst, err := bolt.Open(c.tmp, 0o600, boltOptions(q.opts))
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	c.dst = dst
	dst.NoSync = true // one fsync at the end, not one per chunk
	for range compactPasses {
		work, err := c.pass(false)
		if err != nil {
			return err
		}
		if work > compactSwapWork/4 {
			continue
		}
		if err := c.dst.Sync(); err != nil { // the bulk of the data, off the commit path
			return fmt.Errorf("compact: sync copy: %w", err)
		}
		select {
		case q.swapReq <- c:
		case <-q.quit:
			return ErrClosed
		}
		if err := <-c.swap; !errors.Is(err, errSwapLater) {
			return err
		}
	}
	return fmt.Errorf("compact: still behind after %d passes", compactPasses)
}

// swapIn runs on the committer: the final catch-up and the swap.
func (q *Queue) swapIn(c *compaction) error {
	if w := c.outstanding(); w > compactSwapWork {
		return errSwapLater
	}
	if _, err := c.pass(true); err != nil {
		return err
	}
	if err := c.copyMeta(); err != nil {
		return err
	}
	c.dst.NoSync = q.opts.NoSync
	if err := c.dst.Sync(); err != nil {
		return fmt.Errorf("compact: sync copy: %w", err)
	}
	if err := q.opts.rename(c.tmp, q.path); err != nil {
		return fmt.Errorf("compact: rename: %w", err)
	}
	// From here the copy is the file at path: it is the database, whatever
	// else fails. An unsynced rename could come undone in a crash and take
	// the commits made after it along, so until the directory is synced
	// every commit fails with ErrWrite (commit checks dirPending).
	configure(c.dst, q.opts)
	q.dbMu.Lock()
	old := q.db
	q.db = c.dst
	q.dbMu.Unlock()
	c.dst = nil
	if err := old.Close(); err != nil {
		q.log.Warn("buffer compaction: closing the old file", "err", err)
	}
	if err := q.syncDirRetry(); err != nil {
		q.dirPending = true
		q.setCondition(CondWriteFailed, SeverityError, "directory fsync after compaction failed: "+err.Error())
		return nil // compacted; commits fail until the directory syncs
	}
	return nil
}

// syncDirRetry fsyncs the buffer file's directory, retrying briefly.
func (q *Queue) syncDirRetry() error {
	var err error
	for i := range 3 {
		if err = q.opts.syncDir(filepath.Dir(q.path)); err == nil {
			return nil
		}
		time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
	}
	return err
}

func (q *Queue) compactAfterSet(t time.Time) {
	q.mu.Lock()
	q.compactAfter = t
	q.mu.Unlock()
}
