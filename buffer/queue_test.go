package buffer

import (
	"context"
	"fmt"
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
	q, err := Open(path, opts)
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
	q := newTestQueue(t, Options{})
	recs := appendN(t, q, StreamReadings, 0, 10)
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
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
	if len(got) != 10 || got[0].Seq != 1 || string(got[9].Value) != `{"i":000009}` || got[3].Stream != StreamReadings {
		t.Fatalf("read %d records: %+v", len(got), got)
	}
	if !got[0].Time.Equal(recs[0].Time) {
		t.Fatalf("time %v != %v", got[0].Time, recs[0].Time)
	}
	got, _ = q.Read(StreamReadings, 4, 3)
	if len(got) != 3 || got[0].Seq != 5 || got[2].Seq != 7 {
		t.Fatalf("read after 4: %+v", got)
	}
	if err := q.Ack(StreamReadings, 7); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(StreamReadings, 7); err != nil {
		t.Fatal(err)
	}
	got, _ = q.Read(StreamReadings, 0, 100)
	if len(got) != 3 || got[0].Seq != 8 {
		t.Fatalf("after ack: %+v", got)
	}
	st := q.Stats().Streams[StreamReadings]
	if st.Records != 3 || st.LastSeq != 10 || st.FirstSeq != 8 || st.Acked != 7 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRestartKeepsSeqAndRedelivers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, q, StreamAlerts, 0, 5)
	appendN(t, q, StreamReadings, 0, 5)
	if err := q.Ack(StreamAlerts, 5); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(StreamReadings, 2); err != nil {
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
	if len(got) != 3 || got[0].Seq != 3 {
		t.Fatalf("redelivery: %+v", got)
	}
	recs := appendN(t, q, StreamAlerts, 0, 1)
	if recs[0].Seq != 6 {
		t.Fatalf("alerts seq after restart = %d, want 6", recs[0].Seq)
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
	time.Sleep(10 * time.Millisecond)
	if got, _ := q.Read(StreamReadings, 0, 10); len(got) != 0 {
		t.Fatalf("cancelled append stored %d records", len(got))
	}
}
