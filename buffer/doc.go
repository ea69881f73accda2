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
// consumers de-duplicate on gateway, stream and seq). Sequence numbers are
// monotonic per stream across restarts (the last one is persisted in the
// meta bucket in the same transaction as the records). A new file (and a
// stream new to a file) starts its sequences just above the current Unix
// time in microseconds, not at 1, so a reinstalled data dir never reissues
// sequences consumers have already seen.
//
// Records are opaque to the queue: it stores a stream name, key, value,
// headers and time and never looks into them. The record formats are the
// caller's (edgepm's are in internal/wire). What the queue itself has to
// say, drops and the recovery of an unusable file, it reports through
// Options.OnDrop and Options.OnRecover, which turn a report into a record
// the queue commits with the drop (see Bounds).
//
// # Bounds
//
// Every stream has a priority, an optional byte cap, an optional TTL and an
// overflow policy (DropOldest or Block). The whole buffer has a byte cap. At
// a stream cap a DropOldest stream drops its own oldest records; a Block
// stream has no room. At the whole-buffer cap a record makes room by
// dropping the oldest records of DropOldest streams of equal or lower
// priority, lowest priority first, never of a higher one. Without room the
// Append waits for space and then fails with ErrFull.
//
// Open requires every stream above the lowest priority to have a cap, with
// the caps summing to less than the buffer cap (the defaults, see
// DefaultStreams, sum to half of it). So the lowest-priority streams
// (readings) always keep the rest: a readings Append always finds room by
// dropping the oldest readings and ingest never stops at the cap, while any
// other stream under its own cap finds room by dropping readings only. Alerts
// and events are thus never dropped for lower-priority data. Every drop is
// counted per stream (Stats, metrics) and, coalesced per stream and reason,
// reported to Options.OnDrop; the queue appends the record it returns inside
// a commit: the one that made the drops when no report of that stream and
// reason went out in the last DropEventInterval, else a later one (at Close
// at the latest). Room for the record may drop more records; those are in
// the same report. Space freed by acks and drops is reused by bbolt's
// freelist; the file is compacted when it outgrows its data (see
// docs/formats/buffer.md).
//
// # Faults
//
// A file that cannot be opened or fails the consistency walk at Open, or is
// empty (0 bytes), is moved aside (never deleted) and its readable records
// are copied into a fresh file: through bbolt, or, when bbolt cannot read
// the file (truncated, pages overwritten), by a page scan that recovers
// every record whose own checksum is intact (Options.StreamOf helps it tell
// streams apart; InspectSalvage and ExportSalvage do the same offline). Open
// succeeds, and Health and Options.OnRecover's record say what happened. A
// MaxBytes above the disk's room at Open raises the warning CondDiskSmall. A failed commit (disk full) fails only the Appends in it with
// ErrWrite; reads and acks keep working.
//
// # Concurrency
//
// All methods are safe for concurrent use. Append and Ack block until their
// commit is durable (Append also while waiting for space, bounded by
// Options.FullWait and ctx). Read and Stats do not wait for commits. One
// goroutine, the committer, writes to the file; Close stops it after
// committing what was already submitted. Compaction copies the file on a
// second goroutine in chunks, between commits, and the committer only
// catches up the last few thousand records and swaps the files (see
// compact.go); Close stops a running compaction and deletes its copy.
//
// # Caveats
//
// Options.NoSync is unsafe: acknowledged records can be lost on power loss.
// Deleting the buffer file loses its backlog, and the new file's sequences
// are only above the old ones if the clock is right (see the sequence floor
// in docs/formats/buffer.md): on a gateway without a real-time clock, start
// edgepm after time is synced.
package buffer
