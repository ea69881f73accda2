package buffer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/edgepm/edgepm/internal/atomicfile"
)

// recovery describes a file moved aside at Open.
type recovery struct {
	movedTo   string
	cause     error
	salvaged  int64
	lost      int64 // records that failed to decode
	metaFound bool
}

// errEmptyFile is the cause recorded for a 0-byte buffer file (a crash
// during creation, or a filesystem that lost the data): it is moved aside and
// reported like any other unusable file, not silently taken for a new one.
var errEmptyFile = errors.New("file is empty (0 bytes)")

// openFile validates the file, moves a bad one aside, opens the database and
// salvages what it can from a moved file.
func (q *Queue) openFile() (*recovery, error) {
	var rec *recovery
	_ = os.Remove(q.path + compactSuffix) // left by a crash during compaction
	if fi, err := os.Stat(q.path); err == nil {
		verr := errEmptyFile
		if fi.Size() > 0 {
			verr = validateFile(q.path, q.opts)
		}
		switch {
		case verr == nil:
		case errors.Is(verr, ErrLocked), isAccessError(verr):
			return nil, verr
		default:
			if rec, err = q.moveAside(verr); err != nil {
				return nil, err
			}
		}
	}
	db, err := openRW(q.path, q.opts)
	if err != nil && rec == nil && !errors.Is(err, ErrLocked) && !isAccessError(err) {
		if rec, err = q.moveAside(err); err != nil {
			return nil, err
		}
		db, err = openRW(q.path, q.opts)
	}
	if err != nil {
		return nil, err
	}
	q.db = db
	if err := initFile(db, q.opts.Now()); err != nil {
		_ = db.Close()
		return nil, err
	}
	if rec != nil {
		q.salvage(rec)
	}
	return rec, nil
}

// boltOptions are the bbolt settings of the read-write handle. The freelist
// is not synced: commits do not rewrite it (a drained buffer would otherwise
// write a freelist page run for every free page on every commit) and Open
// rebuilds it by walking the file instead.
func boltOptions(o Options) *bolt.Options {
	return &bolt.Options{
		Timeout:        o.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         o.NoSync,
		MaxSize:        o.fileMaxBytes,
		PageSize:       pageSize,
	}
}

func openRW(path string, o Options) (*bolt.DB, error) {
	var db *bolt.DB
	err := guarded(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, boltOptions(o))
		return err
	})
	if err != nil {
		return nil, classifyOpenError(err)
	}
	configure(db, o)
	return db, nil
}

// configure sets the handle fields bbolt does not take as options.
func configure(db *bolt.DB, o Options) {
	db.AllocSize = allocSize(o.MaxBytes)
	db.MaxBatchSize = 0
}

// allocSize keeps bbolt's file growth step proportionate to the cap.
func allocSize(maxBytes int64) int {
	a := maxBytes / 64
	a = max(a, 1<<20)
	a = min(a, 16<<20)
	return int(a)
}

// validateFile opens path read-only and walks every page reachable from the
// stream buckets, decoding every record, with panics and faults contained.
func validateFile(path string, o Options) error {
	db, err := openRO(path, o.LockTimeout)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	deadline := time.Now().Add(o.CheckTimeout)
	err = guarded(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if _, err := checkFormat(tx); err != nil {
				return err
			}
			return walkRecords(tx, deadline, func(_ string, _ uint64, _ Record, _ int64, err error) error {
				return err
			})
		})
	})
	if errors.Is(err, errWalkTimeout) {
		o.Logger.Warn("buffer consistency walk ran out of time; accepting the file", "path", path, "timeout", o.CheckTimeout)
		return nil
	}
	return err
}

func openRO(path string, timeout time.Duration) (*bolt.DB, error) {
	var db *bolt.DB
	err := guarded(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
		return err
	})
	if err != nil {
		return nil, classifyOpenError(err)
	}
	return db, nil
}

func classifyOpenError(err error) error {
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("%w (is the appliance running?)", ErrLocked)
	}
	return err
}

// isAccessError reports errors that moving the file aside cannot fix.
func isAccessError(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist)
}

// moveAside renames the bad file to path.corrupt-<UTC time> (or
// .unsupported-<time> for a newer format), so nothing is deleted.
func (q *Queue) moveAside(cause error) (*recovery, error) {
	kind := "corrupt"
	if errors.Is(cause, ErrUnsupportedVersion) {
		kind = "unsupported"
	}
	to := fmt.Sprintf("%s.%s-%s", q.path, kind, q.opts.Now().UTC().Format("20060102T150405.000Z"))
	if err := os.Rename(q.path, to); err != nil {
		return nil, fmt.Errorf("move bad buffer file aside (%v): %w", cause, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(q.path)); err != nil {
		return nil, fmt.Errorf("move bad buffer file aside: %w", err)
	}
	q.log.Error("buffer file unusable; moved aside, starting a fresh buffer", "moved_to", to, "err", cause)
	return &recovery{movedTo: to, cause: cause}, nil
}

// initFile creates the meta and stream buckets of a new file.
func initFile(db *bolt.DB, now time.Time) error {
	return db.Update(func(tx *bolt.Tx) error {
		if _, err := checkFormat(tx); err != nil {
			return err
		}
		mb, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return fmt.Errorf("init meta: %w", err)
		}
		if mb.Get(keyFormat) == nil {
			if err := mb.Put(keyFormat, []byte{formatVersion}); err != nil {
				return err
			}
			return mb.Put(keyCreated, []byte(now.UTC().Format(time.RFC3339Nano)))
		}
		return nil
	})
}
