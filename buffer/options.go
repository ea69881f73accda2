package buffer

import (
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Policy is what a stream does when a record does not fit under a cap.
type Policy string

const (
	// DropOldest deletes the stream's oldest records to make room (counted,
	// reported as an event). The default for readings, predictions,
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
// (see DefaultStreams); for a custom stream the defaults are priority 1, no
// stream cap, no TTL, DropOldest.
type StreamOptions struct {
	// Priority orders streams under the whole-buffer cap: a record may only
	// make room by dropping records of streams with Priority <= its own and
	// policy DropOldest, lowest priority first. Higher is more important.
	Priority int
	// MaxBytes caps the stream's stored bytes; < 0 means no stream cap (only
	// the whole-buffer cap applies).
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
	// MaintenanceInterval is how often TTL expiry, pending drop events and
	// compaction are looked at (default 5s).
	MaintenanceInterval time.Duration
	// DropEventInterval coalesces drop events: at most one event per stream
	// and reason per interval (default 10s).
	DropEventInterval time.Duration
	// CompactRatio: when the file exceeds CompactRatio × max(MaxBytes' share
	// in use, CompactMinBytes) the queue compacts it (copy + atomic rename).
	// Default 1.25; < 0 disables compaction.
	CompactRatio float64
	// CompactMinBytes: files smaller than this are never compacted (default 8 MiB).
	CompactMinBytes int64
	// EventKey is the Kafka key of event records the queue writes (the gateway id).
	EventKey []byte
	// Now is the clock (default time.Now); tests inject one for TTL.
	Now func() time.Time
	// Logger (nil = discard).
	Logger *slog.Logger
	// Registerer for the buffer's metrics (nil = don't register).
	Registerer prometheus.Registerer

	// fileMaxBytes is a test seam: bbolt's MaxSize, to simulate a full disk.
	fileMaxBytes int
}

// DefaultStreams returns the default stream settings.
//
//	stream       priority  cap      TTL   overflow
//	alerts       100       32 MiB   none  block
//	events        90       16 MiB   none  drop_oldest
//	predictions   50       none     none  drop_oldest
//	deadletter    20       32 MiB   none  drop_oldest
//	readings      10       none     none  drop_oldest
//
// Alerts and events therefore are never dropped to make room for readings,
// predictions or dead letters; readings go first, oldest first, when the
// whole buffer reaches its cap.
func DefaultStreams() map[string]StreamOptions {
	return map[string]StreamOptions{
		StreamAlerts:      {Priority: 100, MaxBytes: 32 << 20, TTL: -1, Overflow: Block},
		StreamEvents:      {Priority: 90, MaxBytes: 16 << 20, TTL: -1, Overflow: DropOldest},
		StreamPredictions: {Priority: 50, MaxBytes: -1, TTL: -1, Overflow: DropOldest},
		StreamDeadletter:  {Priority: 20, MaxBytes: 32 << 20, TTL: -1, Overflow: DropOldest},
		StreamReadings:    {Priority: 10, MaxBytes: -1, TTL: -1, Overflow: DropOldest},
	}
}

var customStream = StreamOptions{Priority: 1, MaxBytes: -1, TTL: -1, Overflow: DropOldest}

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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	streams := DefaultStreams()
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
