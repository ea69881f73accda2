package buffer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/atomicfile"
)

// waitCompaction waits for the running compaction, if any, to end.
func waitCompaction(q *Queue) {
	if c := q.compactRun.Load(); c != nil {
		<-c.done
	}
}

// compactableFile writes a file of n readings (100-byte values) under a
// 64 MiB cap and returns its path and the records' seqs.
func compactableFile(t *testing.T, n int) (string, []uint64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "buffer.db")
	q, err := Open(path, Options{MaxBytes: 64 << 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]uint64, 0, n)
	for i := 0; i < n; i += 1000 {
		recs := make([]Record, min(1000, n-i))
		for j := range recs {
			recs[j] = Record{Stream: StreamReadings, Key: []byte("k"), Value: fmt.Appendf(nil, "%0100d", i+j)}
		}
		if err := q.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			seqs = append(seqs, r.Seq)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	return path, seqs
}

// wantReadings checks that the readings stream holds exactly the records of
// want (seq -> value), in order.
func wantReadings(t *testing.T, q *Queue, want map[uint64]string) {
	t.Helper()
	got, err := q.Read(StreamReadings, 0, len(want)+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d readings, want %d", len(got), len(want))
	}
	for i, r := range got {
		if v, ok := want[r.Seq]; !ok || v != string(r.Value) || (i > 0 && r.Seq <= got[i-1].Seq) {
			t.Fatalf("reading %d: seq %d value %.20q, want %.20q (present %v)", i, r.Seq, r.Value, v, ok)
		}
	}
}

// Compaction copies off the commit path: while the compactor is paused in
// the middle of its copy, Appends and Acks still commit (review finding
// M12: it ran on the committer and blocked every commit for the whole copy).
// Records appended and acked during the copy come out right in the
// compacted file, which is durable and correct after a restart.
func TestCompactionDoesNotBlockCommits(t *testing.T) {
	path, seqs := compactableFile(t, 100000)
	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	opts := Options{MaxBytes: 8 << 20, CompactMinBytes: 1, NoSync: true}
	opts.compactChunk = func(bucket string, copied int64) {
		if bucket == string(streamBucket(StreamReadings)) && copied > 0 { // in the middle of the readings
			once.Do(func() { close(paused); <-release })
		}
	}
	q := openTestQueue(t, path, opts)
	var releaseOnce sync.Once
	unpause := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unpause) // before Close, also when the test fails
	before := q.Stats().FileSize
	ctx := context.Background()
	// Deliver most of the backlog: the file is now far larger than its data.
	if err := q.Ack(StreamReadings, seqs[80000-1]); err != nil {
		t.Fatal(err)
	}
	want := map[uint64]string{}
	for i, s := range seqs[80000:] {
		want[s] = fmt.Sprintf("%0100d", 80000+i)
	}
	select {
	case <-paused:
	case <-time.After(30 * time.Second):
		t.Fatal("compaction did not start")
	}
	// The compactor is stopped after its first chunk of readings (seqs
	// 80001..84096 copied); commits go on: appends it must catch up on, an
	// ack that deletes records it has already copied.
	done := make(chan error, 1)
	go func() {
		for i := range 2000 {
			r := []Record{{Stream: StreamReadings, Key: []byte("k"), Value: fmt.Appendf(nil, "new-%d", i)}}
			if err := q.Append(ctx, r); err != nil {
				done <- err
				return
			}
			want[r[0].Seq] = string(r[0].Value)
		}
		done <- q.Ack(StreamReadings, seqs[85000-1])
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("commits blocked while the compaction copies")
	}
	for _, s := range seqs[80000:85000] {
		delete(want, s)
	}
	unpause()
	waitCompaction(q)
	after := q.Stats().FileSize
	if after >= before/2 {
		t.Fatalf("file %d bytes after compaction, was %d", after, before)
	}
	if _, err := os.Stat(path + compactSuffix); !os.IsNotExist(err) {
		t.Fatalf("copy left behind: %v", err)
	}
	wantReadings(t, q, want)
	last := q.Stats().Streams[StreamReadings].LastSeq
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openTestQueue(t, path, Options{MaxBytes: 8 << 20, NoSync: true})
	if h := q.Health(); len(h) != 0 {
		t.Fatalf("health after reopening the compacted file: %+v", h)
	}
	wantReadings(t, q, want)
	if r := appendN(t, q, StreamReadings, 0, 1); r[0].Seq != last+1 {
		t.Fatalf("seq after compaction and restart %d, want %d", r[0].Seq, last+1)
	}
}

// A compaction that cannot rename its copy leaves the queue on the old
// file, working, and removes the copy.
func TestCompactionRenameFails(t *testing.T) {
	path, seqs := compactableFile(t, 30000)
	opts := Options{MaxBytes: 2 << 20, CompactMinBytes: 1, NoSync: true}
	var renames atomic.Int32
	opts.rename = func(string, string) error {
		renames.Add(1)
		return errors.New("injected rename failure")
	}
	q := openTestQueue(t, path, opts)
	before := q.Stats().FileSize
	if err := q.Ack(StreamReadings, seqs[29000-1]); err != nil {
		t.Fatal(err)
	}
	waitCompaction(q)
	if q.Stats().FileSize != before {
		t.Fatal("file changed although the rename failed")
	}
	if _, err := os.Stat(path + compactSuffix); !os.IsNotExist(err) {
		t.Fatalf("copy left behind: %v", err)
	}
	r := appendN(t, q, StreamReadings, 0, 10)
	if got, _ := q.Read(StreamReadings, 0, 2000); len(got) != 1010 || got[1009].Seq != r[9].Seq {
		t.Fatalf("%d readings after the failed compaction", len(got))
	}
	waitCompaction(q)
	if n := renames.Load(); n != 1 {
		t.Fatalf("%d compactions, want 1: no retry before compactRetry", n)
	}
}

// After the swap the directory must be fsynced, or a crash could bring the
// old file back and lose what was committed into the new one. While that
// fsync fails, Append fails with ErrWrite and a health condition says why
// (no hang, no silent loss); once it succeeds, the queue goes on.
func TestCompactionDirSyncFails(t *testing.T) {
	path, seqs := compactableFile(t, 30000)
	var mu sync.Mutex
	fail := true
	opts := Options{MaxBytes: 2 << 20, CompactMinBytes: 1, NoSync: true}
	opts.syncDir = func(dir string) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("injected EIO")
		}
		return atomicfile.SyncDir(dir)
	}
	q := openTestQueue(t, path, opts)
	if err := q.Ack(StreamReadings, seqs[29000-1]); err != nil {
		t.Fatal(err)
	}
	waitCompaction(q)
	err := q.Append(context.Background(), []Record{rec(StreamReadings, 0)})
	if !errors.Is(err, ErrWrite) || !strings.Contains(err.Error(), "directory fsync after compaction") {
		t.Fatalf("append while the directory cannot be synced: %v", err)
	}
	if h := q.Health(); len(h) != 1 || h[0].Name != CondWriteFailed {
		t.Fatalf("health %+v", h)
	}
	if got, err := q.Read(StreamReadings, 0, 2000); err != nil || len(got) != 1000 {
		t.Fatalf("read: %d records, %v", len(got), err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	appendN(t, q, StreamReadings, 1, 1)
	if h := q.Health(); len(h) != 0 {
		t.Fatalf("health after the directory synced %+v", h)
	}
}
