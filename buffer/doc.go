// Package buffer is edgepm's durable store-and-forward queue: the records
// the appliance must deliver to Kafka (readings, predictions, alerts,
// events, dead letters) wait here, on disk, for as long as the uplink is down.
//
// # Basics
//
// A Queue is one bbolt file with one bucket per stream. Append assigns each
// record the next sequence number of its stream and returns only when the
// record is durable (fsynced), so an MQTT QoS 1 message may be acknowledged
// after it. Concurrent Appends share one transaction and one fsync (group
// commit): while one commit is being fsynced the next batch gathers.
//
// The bridge reads a batch with Read(stream, after, max), produces it, and
// calls Ack(stream, upTo) once Kafka acknowledged it; Ack deletes. Records
// not acknowledged before a crash or restart are read again (at-least-once;
// consumers de-duplicate on gateway, stream and seq). Sequence numbers start
// at 1 and are monotonic per stream across restarts (the last one is
// persisted in the meta bucket in the same transaction as the records).
//
// # Bounds
//
// Every stream has a priority, an optional byte cap, an optional TTL and an
// overflow policy (DropOldest or Block). The whole buffer has a byte cap.
// Records that do not fit are dropped oldest first from the lowest-priority
// DropOldest streams (never from a stream with a higher priority than the
// incoming record), or the Append waits for space and then fails with
// ErrFull. Every drop is counted per stream (Stats, metrics) and reported by
// an event record in the events stream. Space freed by acks and drops is
// reused by bbolt's freelist; the file is compacted when it outgrows its
// data (see docs/formats/buffer.md).
//
// # Faults
//
// A file that cannot be opened or fails the consistency walk at Open is
// moved aside (never deleted) and its readable records are copied into a
// fresh file; Open succeeds, and Health and the events stream say what
// happened. A failed commit (disk full) fails only the Appends in it with
// ErrWrite; reads and acks keep working.
//
// # Concurrency
//
// All methods are safe for concurrent use. Append and Ack block until their
// commit is durable (Append also while waiting for space, bounded by
// Options.FullWait and ctx). Read and Stats do not wait for commits. One
// goroutine, the committer, writes to the file; Close stops it after
// committing what was already submitted.
//
// # Caveats
//
// Options.NoSync is unsafe: acknowledged records can be lost on power loss.
// Deleting the buffer file resets sequence numbers to 1; move it aside
// instead or consumers may discard new records as duplicates.
package buffer
