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

// maybeCompact compacts the file when it has outgrown its bound while the
// queue is small: file > CompactRatio × MaxBytes (and > CompactMinBytes)
// with at most half the cap in use. bbolt reuses freed pages but never
// shrinks a file, so this is what gives disk back after, say, the cap was
// lowered. Runs on the committer goroutine, so no commit interleaves.
func (q *Queue) maybeCompact() {
	if q.opts.CompactRatio < 0 {
		return
	}
	q.mu.Lock()
	size := q.fileSize
	var used int64
	for _, st := range q.streams {
		used += st.bytes
	}
	q.mu.Unlock()
	limit := max(int64(q.opts.CompactRatio*float64(q.opts.MaxBytes)), q.opts.CompactMinBytes)
	if size <= limit || used > q.opts.MaxBytes/2 {
		return
	}
	start := time.Now()
	if err := q.compact(); err != nil {
		q.log.Error("buffer compaction failed", "err", err)
		return
	}
	q.refreshFileSize()
	q.log.Info("buffer compacted", "before", size, "after", q.Stats().FileSize, "took", time.Since(start))
}

// compact copies the live data into a new file and atomically renames it
// over the old one.
func (q *Queue) compact() error {
	tmp := q.path + compactSuffix
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, boltOptions(q.opts))
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	q.dbMu.RLock()
	err = bolt.Compact(dst, q.db, 64<<20)
	q.dbMu.RUnlock()
	if err == nil {
		err = dst.Sync()
	}
	err = errors.Join(err, dst.Close())
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	q.dbMu.Lock()
	defer q.dbMu.Unlock()
	if err := q.db.Close(); err != nil {
		return fmt.Errorf("compact: close: %w", err)
	}
	renameErr := os.Rename(tmp, q.path)
	if renameErr == nil {
		renameErr = syncDir(filepath.Dir(q.path))
	}
	db, err := openRW(q.path, q.opts)
	if err != nil {
		// The old handle is closed and the new one will not open: the
		// queue cannot go on; report it loudly (Appends fail with ErrWrite).
		q.setCondition(CondWriteFailed, SeverityError, "reopen after compaction failed: "+err.Error())
		return fmt.Errorf("compact: reopen: %w", err)
	}
	q.db = db
	if renameErr != nil {
		return fmt.Errorf("compact: rename: %w", renameErr)
	}
	return nil
}
