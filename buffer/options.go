package buffer

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/internal/atomicfile"
)

// Policy is what a stream does when a record does not fit under a cap.
type Policy string

const (
	// DropOldest deletes the stream's oldest records to make room (counted,
	// reported through Options.OnDrop). The default for readings, predictions,
	// deadletter and events.
	DropOldest Policy = "drop_oldest"
	// Block makes Append wait for space (acks, TTL expiry) for up to
	// Options.FullWait and then fail with ErrFull: backpressure. The default
	// for alerts.
	Block Policy = "block"
)

// WaitForever as Options.FullWait makes a blocked Append wait until space
// frees up, its ctx ends or the queue closes.
const WaitForever time.Duration = -1

// StreamOptions tunes one stream. A zero field takes the stream's default
// (see DefaultStreams); for a custom stream the defaults are priority 10 (that
// of readings), no stream cap, no TTL, DropOldest.
type StreamOptions struct {
	// Priority orders streams under the whole-buffer cap: a record may only
	// make room by dropping records of streams with Priority <= its own and
	// policy DropOldest, lowest priority first. Higher is more important.
	// Every stream above the lowest priority must have a cap, and those caps
	// must sum to less than Options.MaxBytes (Open checks it).
	Priority int
	// MaxBytes caps the stream's stored bytes; < 0 means no stream cap (only
	// the whole-buffer cap applies; allowed only at the lowest priority).
	// Lowering it takes effect at the next maintenance (at Open at the
	// latest): a DropOldest stream drops its oldest records down to the cap.
	MaxBytes int64
	// TTL drops records older than this (by Record.Time); < 0 means none.
	TTL time.Duration
	// Overflow is the policy at the stream cap and the whole-buffer cap.
	Overflow Policy
}

// Options configures a Queue. The zero value means the documented defaults:
// durable (fsync per group commit), the five default streams, a 512 MiB cap.
type Options struct {
	// MaxBytes caps the stored bytes of all streams together (default 512 MiB).
	// Stored bytes = framed record + 24 bytes of bbolt key and element header.
	MaxBytes int64
	// Streams tunes the default streams and adds custom ones.
	Streams map[string]StreamOptions
	// MaxRecordBytes bounds one record's framed size (default 1 MiB).
	MaxRecordBytes int
	// FullWait is how long Append waits for space before returning ErrFull
	// (default 2s; WaitForever waits until ctx ends).
	FullWait time.Duration
	// CommitDelay lets the committer linger this long after the first waiting
	// Append to gather more (default 0: batches form naturally while the
	// previous commit is fsyncing). Bounded; adds at most this to latency.
	CommitDelay time.Duration
	// MaxBatchRecords bounds the records in one commit (default 16384).
	MaxBatchRecords int
	// NoSync: THIS IS UNSAFE. Commits are not fsynced, so Append returns
	// before records are durable and a power loss or kernel crash can lose
	// acknowledged records or corrupt the file. For tests and benchmarks only.
	NoSync bool
	// LockTimeout bounds the wait for the file lock at Open (default 2s).
	LockTimeout time.Duration
	// CheckTimeout bounds the consistency walk at Open (default 30s); a walk
	// that runs out of time accepts the file and logs a warning.
	CheckTimeout time.Duration
	// MaintenanceInterval is how often TTL expiry, pending drop reports and
	// compaction are looked at (default 5s).
	MaintenanceInterval time.Duration
	// DropEventInterval coalesces drop reports: at most one OnDrop report
	// per stream and reason per interval (default 10s).
	DropEventInterval time.Duration
	// CompactRatio: when the file exceeds CompactRatio × MaxBytes (and
	// CompactMinBytes) with at most half of MaxBytes in use, the queue
	// compacts it in the background (chunked copy, then atomic rename; commits
	// wait only for the final catch-up and swap). Default 1.25; < 0 disables.
	CompactRatio float64
	// CompactMinBytes: files smaller than this are never compacted (default 8 MiB).
	CompactMinBytes int64
	// OnDrop, when set, turns a drop report into a record (ok = true) that
	// the queue appends within a commit, into any configured stream (a
	// record for another stream is left out): in the commit that made the
	// drops when the report is due at once, else in a later one
	// (DropEventInterval), at Close at the latest.
	// The queue never looks into the record: its format is the caller's.
	// nil: drops are only counted (Stats, metrics).
	//
	// OnDrop runs on the committer goroutine, inside a commit: it must be
	// quick, must not block and must not call the Queue. It is called more
	// than once per report: first with every number of the report at its
	// widest (Records, FirstSeq, LastSeq at MaxUint64, Bytes and Since at
	// their most negative) to size the room, so the record must not grow
	// when a number of the report gets shorter in decimal.
	OnDrop func(DropReport) (Record, bool)
	// OnRecover, when set, turns the recovery of an unusable file at Open
	// into a record (ok = true) stored in the fresh file, in its stream if
	// that is configured. Called at most once, during Open.
	OnRecover func(RecoveryReport) (Record, bool)
	// StreamOf, when set, names the stream a record belongs to from its
	// contents (ok = false: cannot tell). Only the salvage of a file bbolt
	// cannot read uses it, for records the page scan finds on leaf pages
	// whose branch pages are lost (a truncated file loses the tree's upper
	// pages first). nil: such records are recovered only when one stream
	// alone has pages of its own, else counted unreadable. Called during
	// Open only; the queue never looks into records itself.
	StreamOf func(Record) (string, bool)
	// Now is the clock (default time.Now); tests inject one for TTL.
	Now func() time.Time
	// Logger (nil = discard).
	Logger *slog.Logger
	// Registerer for the buffer's metrics (nil = don't register).
	Registerer prometheus.Registerer

	// fileMaxBytes is a test seam: bbolt's MaxSize, to simulate a full disk.
	fileMaxBytes int
	// freeBytes is a test seam: the free space of the buffer's filesystem
	// (nil = statfs).
	freeBytes func(dir string) (int64, error)
	// Test seams of compaction (nil = the real thing): renaming the copy
	// over the file, fsyncing the directory, and a hook the compactor calls
	// after every chunk it copies (bucket, keys in its copy so far).
	rename       func(oldpath, newpath string) error
	syncDir      func(dir string) error
	compactChunk func(bucket string, copied int64)
	// waiting is a test seam: called by an Append that found no room, just
	// before it starts waiting for space (so tests need not sleep).
	waiting func()
}

// DefaultStreams returns the default settings of the five default streams.
// The default stream caps scale with Options.MaxBytes, so MaxBytes is 0
// ("the default") in the result; DefaultStreamsFor gives the values for a
// given buffer cap.
//
//	stream       priority  cap                         TTL   overflow
//	alerts       100       min(32 MiB, MaxBytes/8)     none  block
//	events        90       min(16 MiB, MaxBytes/16)    none  drop_oldest
//	predictions   50       MaxBytes/4                  none  drop_oldest
//	deadletter    20       min(32 MiB, MaxBytes/16)    none  drop_oldest
//	readings      10       none (the rest)             none  drop_oldest
//
// At the whole-buffer cap a record only makes room by dropping records of
// equal or lower priority, so alerts and events are never dropped for
// readings, predictions or dead letters. Readings, the lowest priority, can
// drop only readings; the caps of every stream above them sum to less than
// MaxBytes (validated: 1/8 + 1/16 + 1/4 + 1/16 = 1/2 of it by default), so
// readings always hold at least the rest of the buffer (a quarter of it by
// default) and an Append of readings always finds room by dropping the oldest
// ones: ingest never stops at the cap.
func DefaultStreams() map[string]StreamOptions {
	return map[string]StreamOptions{
		StreamAlerts:      {Priority: 100, TTL: -1, Overflow: Block},
		StreamEvents:      {Priority: 90, TTL: -1, Overflow: DropOldest},
		StreamPredictions: {Priority: 50, TTL: -1, Overflow: DropOldest},
		StreamDeadletter:  {Priority: 20, TTL: -1, Overflow: DropOldest},
		StreamReadings:    {Priority: 10, MaxBytes: -1, TTL: -1, Overflow: DropOldest},
	}
}

// DefaultStreamsFor returns DefaultStreams with the caps of a buffer whose
// Options.MaxBytes is maxBytes.
func DefaultStreamsFor(maxBytes int64) map[string]StreamOptions {
	s := DefaultStreams()
	caps := map[string]int64{
		StreamAlerts:      min(32<<20, maxBytes/8),
		StreamEvents:      min(16<<20, maxBytes/16),
		StreamPredictions: maxBytes / 4,
		StreamDeadletter:  min(32<<20, maxBytes/16),
	}
	for name, c := range caps {
		so := s[name]
		so.MaxBytes = max(c, 1) // 0 would mean "default"
		s[name] = so
	}
	return s
}

// customStream is the base of a stream that is not a default one: the
// priority of readings (so, by default, it shares the lowest priority and
// needs no cap), no cap, no TTL, DropOldest.
var customStream = StreamOptions{Priority: 10, MaxBytes: -1, TTL: -1, Overflow: DropOldest}

// withDefaults returns opts with every zero field filled in.
func (o Options) withDefaults() Options {
	if o.MaxBytes == 0 {
		o.MaxBytes = 512 << 20
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = 1 << 20
	}
	if o.FullWait == 0 {
		o.FullWait = 2 * time.Second
	}
	if o.MaxBatchRecords == 0 {
		o.MaxBatchRecords = 16384
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = 2 * time.Second
	}
	if o.CheckTimeout == 0 {
		o.CheckTimeout = 30 * time.Second
	}
	if o.MaintenanceInterval == 0 {
		o.MaintenanceInterval = 5 * time.Second
	}
	if o.DropEventInterval == 0 {
		o.DropEventInterval = 10 * time.Second
	}
	if o.CompactRatio == 0 {
		o.CompactRatio = 1.25
	}
	if o.CompactMinBytes == 0 {
		o.CompactMinBytes = 8 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.rename == nil {
		o.rename = os.Rename
	}
	if o.syncDir == nil {
		o.syncDir = atomicfile.SyncDir
	}
	if o.freeBytes == nil {
		o.freeBytes = diskFree
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	streams := DefaultStreamsFor(o.MaxBytes)
	for name, so := range o.Streams {
		base, ok := streams[name]
		if !ok {
			base = customStream
		}
		streams[name] = so.merge(base)
	}
	o.Streams = streams
	return o
}

func (s StreamOptions) merge(base StreamOptions) StreamOptions {
	if s.Priority == 0 {
		s.Priority = base.Priority
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = base.MaxBytes
	}
	if s.TTL == 0 {
		s.TTL = base.TTL
	}
	if s.Overflow == "" {
		s.Overflow = base.Overflow
	}
	return s
}

// validate names the first bad field and value (after withDefaults).
func (o Options) validate() error {
	switch {
	case o.MaxBytes < 0:
		return fmt.Errorf("buffer.max_bytes: must be > 0, got %d", o.MaxBytes)
	case o.MaxRecordBytes < 0:
		return fmt.Errorf("buffer.max_record_bytes: must be > 0, got %d", o.MaxRecordBytes)
	case o.MaxBatchRecords < 0:
		return fmt.Errorf("buffer.max_batch_records: must be > 0, got %d", o.MaxBatchRecords)
	case o.CommitDelay < 0:
		return fmt.Errorf("buffer.commit_delay: must be >= 0, got %s", o.CommitDelay)
	case o.FullWait < 0 && o.FullWait != WaitForever:
		return fmt.Errorf("buffer.full_wait: must be >= 0 or WaitForever, got %s", o.FullWait)
	}
	for _, name := range sortedNames(o.Streams) {
		if err := validateStream(name, o.Streams[name]); err != nil {
			return err
		}
	}
	return o.validateCaps()
}

// validateCaps checks that the lowest-priority streams can always make room
// at the whole-buffer cap: every stream above the lowest priority has a cap
// and those caps sum to less than MaxBytes. Otherwise higher-priority data
// could fill the buffer and the lowest-priority stream, which may drop only
// its own kind, could never append again.
func (o Options) validateCaps() error {
	lowest := 0
	for i, name := range sortedNames(o.Streams) {
		if p := o.Streams[name].Priority; i == 0 || p < lowest {
			lowest = p
		}
	}
	var sum int64
	var terms []string
	for _, name := range sortedNames(o.Streams) {
		s := o.Streams[name]
		if s.Priority == lowest {
			continue
		}
		if s.MaxBytes <= 0 {
			return fmt.Errorf("buffer.streams.%s.max_bytes: a stream above the lowest priority (%d) needs a cap "+
				"so the lowest-priority streams can always make room at buffer.max_bytes, got %d (no cap)",
				name, lowest, s.MaxBytes)
		}
		sum += s.MaxBytes
		terms = append(terms, fmt.Sprintf("%s.max_bytes=%d", name, s.MaxBytes))
	}
	if sum >= o.MaxBytes {
		return fmt.Errorf("buffer.streams: the caps of the streams above the lowest priority (%d) must sum to "+
			"less than buffer.max_bytes=%d, got %d (%s)", lowest, o.MaxBytes, sum, strings.Join(terms, " + "))
	}
	return nil
}

func validateStream(name string, s StreamOptions) error {
	switch {
	case name == "" || len(name) > 64:
		return fmt.Errorf("buffer.streams: bad stream name %q (1..64 bytes)", name)
	case s.Overflow != DropOldest && s.Overflow != Block:
		return fmt.Errorf("buffer.streams.%s.overflow: must be drop_oldest or block, got %q", name, s.Overflow)
	}
	return nil
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate reports what Open would refuse in o (bad values, stream caps
// that leave the lowest-priority stream no room), without opening anything,
// so a config check can catch it.
func (o Options) Validate() error { return o.withDefaults().validate() }
