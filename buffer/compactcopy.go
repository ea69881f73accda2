package buffer

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Chunk bounds of the compaction copy: one read transaction of the live
// file and one write transaction of the copy per chunk.
const (
	compactChunkRecords = 4096
	compactChunkBytes   = 4 << 20
)

// copyMark is how far the copy of one bucket has come.
type copyMark struct {
	last    []byte // last key copied; nil before the first
	records int64  // keys in the copy
}

type chunk struct {
	first      []byte // the live bucket's first key; nil when it is empty
	keys, vals [][]byte
}

// pass brings the copy of every bucket but meta up to the live file and
// returns the keys it copied plus those it deleted.
func (c *compaction) pass(final bool) (int, error) {
	var names []string
	err := c.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if !bytes.Equal(name, metaBucket) {
				names = append(names, string(name))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("compact: list buckets: %w", err)
	}
	work := 0
	for _, name := range names {
		n, err := c.passBucket(name, final)
		work += n
		if err != nil {
			return work, err
		}
	}
	return work, nil
}

// passBucket copies the bucket's keys after the mark, chunk by chunk, and
// deletes from the copy the keys the live bucket dropped from its front.
func (c *compaction) passBucket(name string, final bool) (int, error) {
	m := c.marks[name]
	if m == nil {
		m = &copyMark{}
		c.marks[name] = m
	}
	work := 0
	for {
		if !final && c.q.isQuitting() {
			return work, ErrClosed
		}
		ch, err := c.readChunk(name, m.last)
		if err != nil {
			return work, fmt.Errorf("compact: read %s: %w", name, err)
		}
		n, err := c.writeChunk(name, ch, m)
		work += n
		if err != nil {
			return work, fmt.Errorf("compact: write %s: %w", name, err)
		}
		if c.q.opts.compactChunk != nil && !final {
			c.q.opts.compactChunk(name, m.records)
		}
		if len(ch.keys) == 0 {
			return work, nil
		}
	}
}

// readChunk reads up to a chunk of keys after `after` in one short read
// transaction of the live file.
func (c *compaction) readChunk(name string, after []byte) (chunk, error) {
	var ch chunk
	err := c.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(name))
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		k, v := cur.First()
		ch.first = bytes.Clone(k)
		if after != nil {
			if k, v = cur.Seek(after); bytes.Equal(k, after) {
				k, v = cur.Next()
			}
		}
		size := 0
		for ; k != nil && len(ch.keys) < compactChunkRecords && size < compactChunkBytes; k, v = cur.Next() {
			if v == nil {
				return fmt.Errorf("nested bucket %q: not a buffer file layout", k)
			}
			ch.keys, ch.vals = append(ch.keys, bytes.Clone(k)), append(ch.vals, bytes.Clone(v))
			size += len(k) + len(v)
		}
		return nil
	})
	return ch, err
}

// writeChunk deletes from the copy every key before the live first key (all
// of them when the live bucket is empty) and appends the chunk.
func (c *compaction) writeChunk(name string, ch chunk, m *copyMark) (int, error) {
	work := 0
	err := c.dst.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		b.FillPercent = 1.0 // keys only ever grow: pack pages full
		cur := b.Cursor()
		for k, _ := cur.First(); k != nil && (ch.first == nil || bytes.Compare(k, ch.first) < 0); k, _ = cur.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
			work++
			m.records--
		}
		for i, k := range ch.keys {
			if err := b.Put(k, ch.vals[i]); err != nil {
				return err
			}
			m.last = k
			m.records++
			work++
		}
		return nil
	})
	return work, err
}

// copyMeta copies the meta bucket (small; its keys are only ever put).
func (c *compaction) copyMeta() error {
	var keys, vals [][]byte
	err := c.view(func(tx *bolt.Tx) error {
		return tx.Bucket(metaBucket).ForEach(func(k, v []byte) error {
			keys, vals = append(keys, bytes.Clone(k)), append(vals, bytes.Clone(v))
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("compact: read meta: %w", err)
	}
	err = c.dst.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		for i, k := range keys {
			if err := b.Put(k, vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("compact: write meta: %w", err)
	}
	return nil
}

// outstanding estimates (from above) the keys the final pass would copy or
// delete, from the committed stream state.
func (c *compaction) outstanding() int64 {
	q := c.q
	q.mu.Lock()
	defer q.mu.Unlock()
	var work int64
	for _, st := range q.streams {
		m := c.marks[string(st.bucket)]
		if m == nil {
			work += st.records
			continue
		}
		added := st.records
		if m.last != nil {
			added = min(added, int64(st.lastSeq-keySeq(m.last)))
		}
		work += added + max(0, m.records+added-st.records)
	}
	return work
}

// view runs fn in a read transaction of the live file, with bbolt panics
// contained (the compactor must not take the process down).
func (c *compaction) view(fn func(*bolt.Tx) error) error {
	c.q.dbMu.RLock()
	defer c.q.dbMu.RUnlock()
	return guardedSameGoroutine(func() error { return c.q.db.View(fn) })
}
