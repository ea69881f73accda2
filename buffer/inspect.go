package buffer

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// inspectLockTimeout bounds the wait for a running appliance's lock.
const inspectLockTimeout = time.Second

// Report describes a buffer file (Inspect).
type Report struct {
	Path     string         `json:"path"`
	FileSize int64          `json:"file_size"`
	Format   int            `json:"format"`
	Created  string         `json:"created,omitempty"`
	Streams  []StreamReport `json:"streams"`
	// Salvage is set by InspectSalvage: what the page scan found.
	Salvage *ScanReport `json:"salvage,omitempty"`
}

// StreamReport describes one stream of a buffer file.
type StreamReport struct {
	Name         string    `json:"name"`
	Records      int64     `json:"records"`
	Bytes        int64     `json:"bytes"`
	FirstSeq     uint64    `json:"first_seq"`
	LastSeq      uint64    `json:"last_seq"`
	OldestTime   time.Time `json:"oldest_time,omitzero"`
	Dropped      uint64    `json:"dropped"`
	DroppedBytes uint64    `json:"dropped_bytes"`
}

// Inspect reads a buffer file that no process holds open for writing
// (a stopped appliance's): it opens it read-only and fails with ErrLocked
// within a second when the appliance is running.
func Inspect(path string) (*Report, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("inspect buffer: %w", err)
	}
	rep := &Report{Path: path, FileSize: fi.Size()}
	err = viewFile(path, func(tx *bolt.Tx) error {
		v, err := checkFormat(tx)
		if err != nil {
			return err
		}
		rep.Format = v
		mb := tx.Bucket(metaBucket)
		if mb != nil {
			rep.Created = string(mb.Get(keyCreated))
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			stream, ok := streamName(name)
			if !ok {
				return nil
			}
			st := &streamState{name: stream}
			if mb != nil {
				st.lastSeq = getU64(mb, seqPrefix+stream)
				st.dropped, st.droppedBytes = getDrops(mb, stream)
			}
			scanStream(b, st)
			rep.Streams = append(rep.Streams, StreamReport{Name: stream, Records: st.records, Bytes: st.bytes,
				FirstSeq: st.firstSeq, LastSeq: st.lastSeq, OldestTime: st.oldest,
				Dropped: st.dropped, DroppedBytes: st.droppedBytes})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("inspect buffer %s: %w", path, err)
	}
	sort.Slice(rep.Streams, func(i, j int) bool { return rep.Streams[i].Name < rep.Streams[j].Name })
	return rep, nil
}

// Export calls fn for up to limit records (limit <= 0: all) of stream with
// Seq > after, in order, from a buffer file no process holds for writing.
// It stops at the first record that fails to decode and returns a
// *CorruptError (fn has seen every record before it).
func Export(path, stream string, after uint64, limit int, fn func(Record) error) error {
	err := viewFile(path, func(tx *bolt.Tx) error {
		if _, err := checkFormat(tx); err != nil {
			return err
		}
		b := tx.Bucket(streamBucket(stream))
		if b == nil {
			return fmt.Errorf("%w: %q", ErrUnknownStream, stream)
		}
		c := b.Cursor()
		n := 0
		for k, v := c.Seek(seqKey(after + 1)); k != nil && (limit <= 0 || n < limit); k, v = c.Next() {
			rec, err := decodeRecord(v)
			var ce *CorruptError
			if errors.As(err, &ce) {
				ce.Stream, ce.Seq = stream, keySeq(k)
			}
			if err != nil {
				return fmt.Errorf("after %d good records: %w", n, err)
			}
			rec.Stream = stream
			if err := fn(rec); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("export buffer %s: %w", path, err)
	}
	return nil
}

// viewFile runs fn in a read transaction on a read-only handle, with bbolt
// panics and faults on a corrupt file turned into errors.
func viewFile(path string, fn func(*bolt.Tx) error) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := openRO(path, inspectLockTimeout)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	return guarded(func() error { return db.View(fn) })
}
