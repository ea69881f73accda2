package buffer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

func newTestQueue(t testing.TB, opts Options) *Queue {
	t.Helper()
	return openTestQueue(t, filepath.Join(t.TempDir(), "buffer.db"), opts)
}

func openTestQueue(t testing.TB, path string, opts Options) *Queue {
	t.Helper()
	q, err := Open(path, withReports(opts))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return q
}

func rec(stream string, i int) Record {
	return Record{Stream: stream, Key: []byte("pump-0001"), Value: fmt.Appendf(nil, `{"i":%06d}`, i)}
}

func appendN(t testing.TB, q *Queue, stream string, from, n int) []Record {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = rec(stream, from+i)
	}
	if err := q.Append(context.Background(), recs); err != nil {
		t.Fatalf("Append: %v", err)
	}
	return recs
}

func TestAppendReadAck(t *testing.T) {
	before := seqFloor(time.Now())
	q := newTestQueue(t, Options{})
	recs := appendN(t, q, StreamReadings, 0, 10)
	b := recs[0].Seq - 1 // a new file's sequences start above the time floor
	if b < before {
		t.Fatalf("first seq %d, want > %d (Unix µs before Open)", recs[0].Seq, before)
	}
	for i, r := range recs {
		if r.Seq != b+uint64(i+1) {
			t.Fatalf("rec %d: seq %d", i, r.Seq)
		}
		if r.Time.IsZero() {
			t.Fatalf("rec %d: time not set", i)
		}
	}
	got, err := q.Read(StreamReadings, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || got[0].Seq != b+1 || string(got[9].Value) != `{"i":000009}` || got[3].Stream != StreamReadings {
		t.Fatalf("read %d records: %+v", len(got), got)
	}
	if !got[0].Time.Equal(recs[0].Time) {
		t.Fatalf("time %v != %v", got[0].Time, recs[0].Time)
	}
	got, _ = q.Read(StreamReadings, b+4, 3)
	if len(got) != 3 || got[0].Seq != b+5 || got[2].Seq != b+7 {
		t.Fatalf("read after 4: %+v", got)
	}
	if err := q.Ack(StreamReadings, b+7); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(StreamReadings, b+7); err != nil {
		t.Fatal(err)
	}
	got, _ = q.Read(StreamReadings, 0, 100)
	if len(got) != 3 || got[0].Seq != b+8 {
		t.Fatalf("after ack: %+v", got)
	}
	st := q.Stats().Streams[StreamReadings]
	if st.Records != 3 || st.LastSeq != b+10 || st.FirstSeq != b+8 || st.Acked != 7 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRestartKeepsSeqAndRedelivers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	alerts := appendN(t, q, StreamAlerts, 0, 5)
	readings := appendN(t, q, StreamReadings, 0, 5)
	if err := q.Ack(StreamAlerts, alerts[4].Seq); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(StreamReadings, readings[1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	q = openTestQueue(t, path, Options{})
	got, _ := q.Read(StreamReadings, 0, 10)
	if len(got) != 3 || got[0].Seq != readings[2].Seq {
		t.Fatalf("redelivery: %+v", got)
	}
	recs := appendN(t, q, StreamAlerts, 0, 1)
	if recs[0].Seq != alerts[4].Seq+1 {
		t.Fatalf("alerts seq after restart = %d, want %d", recs[0].Seq, alerts[4].Seq+1)
	}
}

func TestUnknownStreamAndClosed(t *testing.T) {
	q := newTestQueue(t, Options{})
	if err := q.Append(context.Background(), []Record{{Stream: "nope"}}); !errorsIs(err, ErrUnknownStream) {
		t.Fatalf("Append unknown: %v", err)
	}
	if _, err := q.Read("nope", 0, 1); !errorsIs(err, ErrUnknownStream) {
		t.Fatalf("Read unknown: %v", err)
	}
	_ = q.Close()
	if err := q.Append(context.Background(), []Record{rec(StreamReadings, 0)}); !errorsIs(err, ErrClosed) {
		t.Fatalf("Append after close: %v", err)
	}
	if _, err := q.Read(StreamReadings, 0, 1); !errorsIs(err, ErrClosed) {
		t.Fatalf("Read after close: %v", err)
	}
}

func TestAppendContextCancelled(t *testing.T) {
	q := newTestQueue(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := q.Append(ctx, []Record{rec(StreamReadings, 0)})
	if err == nil {
		// The committer may have claimed it first; then it must be stored.
		got, _ := q.Read(StreamReadings, 0, 10)
		if len(got) != 1 {
			t.Fatalf("append returned nil but %d records stored", len(got))
		}
		return
	}
	// A later append commits after the cancelled one was taken off the
	// committer's queue (one channel, in order), so this read sees it, had
	// it been stored.
	appendN(t, q, StreamAlerts, 0, 1)
	if got, _ := q.Read(StreamReadings, 0, 10); len(got) != 0 {
		t.Fatalf("cancelled append stored %d records", len(got))
	}
}

// A reinstalled data dir (the file deleted) must not reissue sequences a
// consumer de-duplicating on (gateway, stream, seq) has already seen: every
// new file, and every stream new to a file, starts at the time floor.
func TestNewFileSeqFloor(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "buffer.db")
	before := seqFloor(time.Now())
	q := openTestQueue(t, path, Options{})
	old := appendN(t, q, StreamReadings, 0, 1000)
	if old[0].Seq <= before || old[0].Seq > seqFloor(time.Now())+1 {
		t.Fatalf("first seq of a new file %d, want just above Unix µs at Open (%d)", old[0].Seq, before)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil { // reinstall
		t.Fatal(err)
	}
	q = openTestQueue(t, path, Options{})
	if r := appendN(t, q, StreamReadings, 0, 1); r[0].Seq <= old[999].Seq {
		t.Fatalf("seq after reinstall %d <= old file's last %d", r[0].Seq, old[999].Seq)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	// A stream configured later starts at the floor too; existing ones continue.
	at := seqFloor(time.Now())
	q = openTestQueue(t, path, Options{Streams: map[string]StreamOptions{"spool": {}}})
	if r := appendN(t, q, "spool", 0, 1); r[0].Seq <= at {
		t.Fatalf("new stream seq %d, want > %d", r[0].Seq, at)
	}
	st := q.Stats().Streams[StreamReadings]
	if r := appendN(t, q, StreamReadings, 1, 1); r[0].Seq != st.LastSeq+1 {
		t.Fatalf("existing stream jumped: %d after %d", r[0].Seq, st.LastSeq)
	}
}

// TestAckAcrossManyPages: an Ack deletes exactly the records up to its
// watermark when they span many bbolt leaf pages (deleteFront deletes
// through one cursor), and the rest read back intact, also after reopening.
// Records of one Read share memory but are independent: headers and values
// decoded in one Read are the records' own.
func TestAckAcrossManyPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n, cut = 30000, 17777
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = rec(StreamReadings, i)
		recs[i].Value = fmt.Appendf(recs[i].Value, "%0180d", i) // ~200 bytes: many leaf pages
		recs[i].Headers = []Header{{Key: "edgepm-schema", Value: []byte("1")}, {Key: fmt.Sprintf("h%d", i%3), Value: []byte{byte(i)}}}
	}
	if err := q.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	check := func(q *Queue, from int) {
		t.Helper()
		var got []Record
		after := uint64(0)
		for {
			rs, err := q.Read(StreamReadings, after, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) == 0 {
				break
			}
			got = append(got, rs...)
			after = rs[len(rs)-1].Seq
		}
		if len(got) != n-from {
			t.Fatalf("read %d records, want %d", len(got), n-from)
		}
		for j, r := range got {
			i := from + j
			if r.Seq != recs[i].Seq || string(r.Value) != string(recs[i].Value) ||
				len(r.Headers) != 2 || r.Headers[1].Key != fmt.Sprintf("h%d", i%3) || r.Headers[1].Value[0] != byte(i) {
				t.Fatalf("record %d: seq %d value %.20q headers %v", i, r.Seq, r.Value, r.Headers)
			}
		}
		if st := q.Stats().Streams[StreamReadings]; st.Records != int64(n-from) || (from < n && st.FirstSeq != recs[from].Seq) {
			t.Fatalf("stats %+v after acking %d", st, from)
		}
	}
	check(q, 0)
	if err := q.Ack(StreamReadings, recs[cut-1].Seq); err != nil {
		t.Fatal(err)
	}
	check(q, cut)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openTestQueue(t, path, Options{})
	check(q, cut)
	if err := q.Ack(StreamReadings, recs[n-1].Seq); err != nil {
		t.Fatal(err)
	}
	check(q, n)
}
