package buffer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Queue is the durable store-and-forward queue. Create it with Open; all
// methods are safe for concurrent use.
type Queue struct {
	path string
	opts Options
	log  *slog.Logger
	m    *metrics

	dbMu sync.RWMutex // Read and the compactor's reads hold it shared; compaction swaps db under it
	db   *bolt.DB

	mu       sync.Mutex              // guards the fields below
	streams  map[string]*streamState // committed state
	health   map[string]Condition
	fileSize int64
	// compactAfter: no compaction starts before (after a failed one).
	compactAfter time.Time

	order []string // stream names by priority ascending, then name (immutable)

	reqs      chan *request
	closeMu   sync.RWMutex
	closed    bool
	senders   sync.WaitGroup
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	spaceMu sync.Mutex
	spaceCh chan struct{} // closed (and replaced) when space is freed

	compactRun atomic.Pointer[compaction] // the running compaction, if any
	compactWG  sync.WaitGroup             // the compactor goroutine
	swapReq    chan *compaction           // compactor -> committer: swap the files

	// Owned by the committer goroutine.
	drops         map[dropKey]*dropAgg
	lastDropEvent time.Time
	dirPending    bool // a compaction renamed the file but the directory fsync failed
}

// streamState is the committed state of one stream.
type streamState struct {
	name         string
	bucket       []byte
	opts         StreamOptions
	lastSeq      uint64
	firstSeq     uint64 // oldest stored seq; 0 when empty
	records      int64
	bytes        int64
	oldest       time.Time
	dropped      uint64 // cumulative across restarts (persisted in meta)
	droppedBytes uint64
	appended     uint64 // since Open
	acked        uint64 // since Open
}

// publish copies the mutable fields of a committed staged copy (name, bucket
// and opts are immutable and read without q.mu).
func (s *streamState) publish(from *streamState) {
	s.lastSeq, s.firstSeq = from.lastSeq, from.firstSeq
	s.records, s.bytes, s.oldest = from.records, from.bytes, from.oldest
	s.dropped, s.droppedBytes = from.dropped, from.droppedBytes
	s.appended, s.acked = from.appended, from.acked
}

// Open opens (or creates) the buffer file at path. A file that is corrupt or
// unreadable is moved aside to path+".corrupt-<UTC time>", its readable records
// are salvaged into a fresh file, and the queue reports it (event record,
// health condition CondRecovered). Open fails with ErrLocked when another
// process holds the file.
func Open(path string, opts Options) (*Queue, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	q := &Queue{
		path:    path,
		opts:    opts,
		log:     opts.Logger.With("component", "buffer"),
		streams: make(map[string]*streamState),
		health:  make(map[string]Condition),
		reqs:    make(chan *request, 1024),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		spaceCh: make(chan struct{}),
		swapReq: make(chan *compaction),
		drops:   make(map[dropKey]*dropAgg),
	}
	for name, so := range opts.Streams {
		q.streams[name] = &streamState{name: name, bucket: streamBucket(name), opts: so}
		q.order = append(q.order, name)
	}
	sort.Slice(q.order, func(i, j int) bool {
		a, b := q.streams[q.order[i]], q.streams[q.order[j]]
		if a.opts.Priority != b.opts.Priority {
			return a.opts.Priority < b.opts.Priority
		}
		return a.name < b.name
	})
	q.m = newMetrics(q, opts.Registerer)
	rec, err := q.openFile()
	if err == nil {
		if err = q.load(rec); err != nil {
			_ = q.db.Close()
		}
	}
	if err != nil {
		q.m.unregister()
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	q.refreshFileSize()
	q.checkDiskRoom()
	go q.run()
	return q, nil
}

// Close commits what was already submitted, stops the committer and closes
// the file. Appends waiting for space fail with ErrClosed. Idempotent; later
// calls return the first call's result.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.closeMu.Lock()
		q.closed = true
		q.closeMu.Unlock()
		q.senders.Wait() // every accepted request is in q.reqs now
		close(q.quit)
		<-q.done
		q.compactWG.Wait() // a running compaction sees quit and removes its copy
		q.m.unregister()
		var dirErr error
		if q.dirPending { // the committer has stopped: its field is ours now
			dirErr = q.syncDirRetry()
		}
		q.dbMu.Lock()
		q.closeErr = errors.Join(q.db.Close(), dirErr)
		q.dbMu.Unlock()
		if q.closeErr != nil {
			q.closeErr = fmt.Errorf("close buffer %s: %w", q.path, q.closeErr)
		}
	})
	return q.closeErr
}

// Path returns the buffer file's path.
func (q *Queue) Path() string { return q.path }

// isQuitting reports whether Close has stopped the committer.
func (q *Queue) isQuitting() bool {
	select {
	case <-q.quit:
		return true
	default:
		return false
	}
}

func (q *Queue) isClosed() bool {
	q.closeMu.RLock()
	defer q.closeMu.RUnlock()
	return q.closed
}

func (q *Queue) stream(name string) (*streamState, error) {
	s, ok := q.streams[name] // the map's keys never change after Open
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownStream, name)
	}
	return s, nil
}

// spaceFreed wakes Appends waiting for space.
func (q *Queue) spaceFreed() {
	q.spaceMu.Lock()
	close(q.spaceCh)
	q.spaceCh = make(chan struct{})
	q.spaceMu.Unlock()
}

func (q *Queue) spaceSignal() <-chan struct{} {
	q.spaceMu.Lock()
	defer q.spaceMu.Unlock()
	return q.spaceCh
}

func (q *Queue) refreshFileSize() {
	fi, err := os.Stat(q.path)
	if err != nil {
		return
	}
	q.mu.Lock()
	q.fileSize = fi.Size()
	q.mu.Unlock()
}
