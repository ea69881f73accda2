package buffer

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// errWalkTimeout stops a consistency walk that ran out of time.
var errWalkTimeout = errors.New("consistency walk timed out")

// guarded runs fn in its own goroutine with faults turned into panics and
// panics into errors: bbolt may panic, or touch unmapped memory, on a corrupt
// page, and the appliance must not crash-loop on a bad file.
func guarded(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		debug.SetPanicOnFault(true)
		defer func() {
			if r := recover(); r != nil {
				ch <- &CorruptError{Reason: fmt.Sprintf("bbolt panicked: %v", r)}
			}
		}()
		ch <- fn()
	}()
	return <-ch
}

// walkVisit is called for every stored record; rec is valid only when err is nil.
type walkVisit func(stream string, seq uint64, rec Record, size int64, err error) error

// walkRecords visits every record of every stream bucket in tx, decoding each
// one. It stops with errWalkTimeout after deadline (zero = none).
func walkRecords(tx *bolt.Tx, deadline time.Time, visit walkVisit) error {
	n := 0
	return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		stream, ok := streamName(name)
		if !ok {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%4096 == 0 && !deadline.IsZero() && time.Now().After(deadline) {
				return errWalkTimeout
			}
			var seq uint64
			rec, err := decodeRecord(v)
			if len(k) != 8 {
				err = &CorruptError{Stream: stream, Reason: "bad key length"}
			} else {
				seq = keySeq(k)
				if err == nil && rec.Seq != seq {
					err = &CorruptError{Stream: stream, Seq: seq, Reason: "sequence does not match key"}
				}
			}
			var ce *CorruptError
			if errors.As(err, &ce) {
				ce.Stream, ce.Seq = stream, seq
			}
			rec.Stream = stream
			if err := visit(stream, seq, rec, storedSize(len(v)), err); err != nil {
				return err
			}
		}
		return nil
	})
}
