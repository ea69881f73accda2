package buffer

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"
)

// The first drop of a stream is reported at once: OnDrop's record is
// committed by the Append whose room cost the drop, in any configured
// stream the caller names, after a call with the widest report that sized
// its room.
func TestOnDropRecordCommittedWithDrop(t *testing.T) {
	size := recSize(rec(StreamDeadletter, 0))
	var mu sync.Mutex
	var reports []DropReport
	q := newTestQueue(t, Options{
		Streams: map[string]StreamOptions{StreamDeadletter: {MaxBytes: 2 * size}, "drops": {}},
		OnDrop: func(r DropReport) (Record, bool) {
			mu.Lock()
			reports = append(reports, r)
			mu.Unlock()
			v, _ := testDropRecord(r)
			v.Stream = "drops"
			return v, true
		},
	})
	first := appendN(t, q, StreamDeadletter, 0, 2)[0].Seq
	appendN(t, q, StreamDeadletter, 2, 1) // drops the first
	got, err := q.Read("drops", 0, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("report records %d (%v), want 1 right after the dropping append", len(got), err)
	}
	if n := len(decodeEvents(t, q, evDropped)); n != 0 {
		t.Fatalf("%d reports in the events stream, want them in the caller's stream only", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) < 2 || reports[0].Records != math.MaxUint64 || reports[0].Since.UnixMilli() != math.MinInt64 {
		t.Fatalf("reports %+v: want the widest first", reports)
	}
	last := reports[len(reports)-1]
	if last.Stream != StreamDeadletter || last.Reason != ReasonStreamCap || last.Records != 1 ||
		last.FirstSeq != first || last.LastSeq != first || last.Bytes != size {
		t.Fatalf("report %+v", last)
	}
}

// Without OnDrop the queue writes nothing of its own: drops are counted only.
func TestNoOnDropCountsOnly(t *testing.T) {
	size := recSize(rec(StreamDeadletter, 0))
	q, err := Open(t.TempDir()+"/b.db", Options{Streams: map[string]StreamOptions{StreamDeadletter: {MaxBytes: 2 * size}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Close() }()
	for i := range 5 {
		appendN(t, q, StreamDeadletter, i, 1)
	}
	if err := q.maintainNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats().Streams; st[StreamDeadletter].Dropped != 3 || st[StreamEvents].Records != 0 {
		t.Fatalf("streams %+v", st)
	}
}

// A report for a stream that is not configured is left out, and does not
// stay pending for ever.
func TestOnDropUnknownStreamLeftOut(t *testing.T) {
	size := recSize(rec(StreamDeadletter, 0))
	calls := 0
	q := newTestQueue(t, Options{DropEventInterval: time.Nanosecond,
		Streams: map[string]StreamOptions{StreamDeadletter: {MaxBytes: 2 * size}},
		OnDrop: func(r DropReport) (Record, bool) {
			calls++ // committer goroutine only
			return Record{Stream: "nowhere", Value: []byte("x")}, true
		}})
	for i := range 3 {
		appendN(t, q, StreamDeadletter, i, 1)
	}
	if err := q.maintainNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := calls
	if err := q.maintainNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls != n || n == 0 {
		t.Fatalf("OnDrop called %d then %d times: the report should have been settled", n, calls)
	}
}
