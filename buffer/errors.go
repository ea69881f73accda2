package buffer

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by every method called after Close, and by an
	// Append still waiting for space when Close is called.
	ErrClosed = errors.New("buffer closed")

	// ErrFull is returned by Append when its records do not fit: a stream with
	// overflow policy Block is at its cap, or the whole buffer is at its cap and
	// nothing of an equal or lower priority may be dropped. It is returned after
	// Options.FullWait (or when ctx ends first, in which case the ctx error is
	// joined to it). Nothing of the failed Append was stored.
	ErrFull = errors.New("buffer full")

	// ErrUnknownStream is returned for a stream name that is not configured.
	ErrUnknownStream = errors.New("unknown stream")

	// ErrTooLarge is returned by Append for a record larger than
	// Options.MaxRecordBytes or than the cap of its stream or buffer.
	ErrTooLarge = errors.New("record too large")

	// ErrWrite wraps a failed commit (disk full, I/O error). Nothing of the
	// failed Append was stored; reads and acks keep working and the queue
	// raises the health condition CondWriteFailed until a commit succeeds.
	ErrWrite = errors.New("buffer write failed")

	// ErrLocked is returned by Open (and the read-only Inspect/Export) when
	// another process holds the buffer file, typically a running appliance.
	ErrLocked = errors.New("buffer file locked by another process")

	// ErrCorrupt is matched (errors.Is) by every *CorruptError.
	ErrCorrupt = errors.New("corrupt buffer data")

	// ErrUnsupportedVersion is matched by a record or file whose format
	// version this build does not know (written by a newer edgepm).
	ErrUnsupportedVersion = errors.New("unsupported buffer format version")
)

// CorruptError reports a record that failed to decode: bad framing, unknown
// version, or checksum mismatch. Stream and Seq are set when known.
type CorruptError struct {
	Stream string
	Seq    uint64
	Offset int    // byte offset in the value where decoding stopped
	Reason string // what was wrong
}

func (e *CorruptError) Error() string {
	if e.Stream != "" {
		return fmt.Sprintf("corrupt record %s/%d at byte %d: %s", e.Stream, e.Seq, e.Offset, e.Reason)
	}
	return fmt.Sprintf("corrupt record at byte %d: %s", e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
