package buffer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestFillToCapIngestNeverStops interleaves readings, predictions, dead
// letters, alerts and events through several cycles of the whole-buffer cap
// without delivering anything (a long outage). Readings must keep being
// accepted (review finding C1: predictions used to evict readings until a
// reading could free nothing and ingest stopped for good), alerts and events
// are never dropped, and every drop is counted in Stats, the metrics and the
// buffer.dropped events.
func TestFillToCapIngestNeverStops(t *testing.T) {
	const capBytes = 1 << 20
	reg := prometheus.NewRegistry()
	q := newTestQueue(t, Options{MaxBytes: capBytes, NoSync: true, // NoSync: speed only; the policy is the same
		FullWait: 200 * time.Millisecond, Registerer: reg})
	ctx := context.Background()
	value := make([]byte, 200)
	batch := func(stream string, n int) []Record {
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{Stream: stream, Key: []byte("pump-0001"), Value: value}
		}
		return recs
	}
	var kept = map[string][]uint64{} // seqs of every alert and own event appended
	var readingBytes int64
	for i := 0; readingBytes < 4*capBytes; i++ {
		recs := batch(StreamReadings, 8)
		if err := q.Append(ctx, recs); err != nil {
			t.Fatalf("append %d (%.1f caps of readings so far): %v; streams %+v",
				i, float64(readingBytes)/capBytes, err, q.Stats().Streams)
		}
		readingBytes += 8 * recSize(recs[0])
		if err := q.Append(ctx, batch(StreamPredictions, 8)); err != nil {
			t.Fatalf("predictions %d: %v", i, err)
		}
		extra := map[int]string{0: StreamAlerts, 31: StreamEvents, 47: StreamDeadletter}
		if s, ok := extra[i%64]; ok {
			r := batch(s, 1)
			if s == StreamEvents {
				r[0] = testEventRecord("uplink.offline", time.Now(), map[string]any{"i": i})
			}
			if err := q.Append(ctx, r); err != nil {
				t.Fatalf("%s %d: %v", s, i, err)
			}
			kept[s] = append(kept[s], r[0].Seq)
		}
		if b := q.Stats().Bytes; b > capBytes {
			t.Fatalf("append %d: %d bytes stored > cap %d", i, b, capBytes)
		}
	}
	s := q.Stats()
	for _, name := range []string{StreamAlerts, StreamEvents} {
		st := s.Streams[name]
		if st.Dropped != 0 {
			t.Fatalf("%s dropped: %+v", name, st)
		}
		for _, seq := range kept[name] {
			if got, _ := q.Read(name, seq-1, 1); len(got) != 1 || got[0].Seq != seq {
				t.Fatalf("%s seq %d missing", name, seq)
			}
		}
	}
	if r, p := s.Streams[StreamReadings], s.Streams[StreamPredictions]; r.Dropped == 0 || p.Dropped == 0 {
		t.Fatalf("no drops (cap never reached?): readings %+v predictions %+v", r, p)
	}
	for name, st := range s.Streams {
		if st.Appended != uint64(st.Records)+st.Dropped {
			t.Errorf("%s: appended %d != stored %d + dropped %d", name, st.Appended, st.Records, st.Dropped)
		}
		if m := counterValue(t, reg, "edgepm_buffer_records_dropped_total", name); uint64(m) != st.Dropped {
			t.Errorf("%s: metric %v, stats %d", name, m, st.Dropped)
		}
	}
	// Close writes the coalesced drop events (DropEventInterval); reopen to count them.
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openTestQueue(t, q.Path(), Options{MaxBytes: capBytes, NoSync: true})
	evs := map[string]uint64{}
	for _, ev := range dropEvents(t, q) {
		evs[ev.Stream+"/"+ev.Reason] += ev.Records
	}
	for name, st := range q.Stats().Streams {
		var inEvents uint64
		for _, reason := range []string{ReasonBufferCap, ReasonStreamCap, ReasonTTL} {
			inEvents += evs[name+"/"+reason]
		}
		if inEvents != st.Dropped {
			t.Errorf("%s: %d dropped in events, %d in stats (%v)", name, inEvents, st.Dropped, evs)
		}
	}
	// Only readings pay for the whole-buffer cap; predictions are held to their own cap.
	for k := range evs {
		if k != StreamReadings+"/"+ReasonBufferCap && k != StreamPredictions+"/"+ReasonStreamCap {
			t.Errorf("unexpected drops %s: %d", k, evs[k])
		}
	}
	t.Logf("readings %s, predictions %s", fmtStream(s.Streams[StreamReadings]), fmtStream(s.Streams[StreamPredictions]))
}

func fmtStream(st StreamStats) string {
	return fmt.Sprintf("%d records (%d bytes), %d dropped", st.Records, st.Bytes, st.Dropped)
}

// A stream cap lowered across a restart is enforced at Open (by the first
// maintenance), so the stream cannot keep readings from finding room.
func TestLoweredStreamCapTrimmedAtOpen(t *testing.T) {
	size := recSize(rec(StreamPredictions, 0))
	q := newTestQueue(t, Options{MaxBytes: 1000 * size, NoSync: true})
	for i := range 100 {
		appendN(t, q, StreamPredictions, i, 1)
	}
	path := q.Path()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	opts := Options{MaxBytes: 1000 * size, NoSync: true, Streams: map[string]StreamOptions{StreamPredictions: {MaxBytes: 10 * size}}}
	q = openTestQueue(t, path, opts)
	appendN(t, q, StreamReadings, 0, 1) // committed after the maintenance at Open
	p := q.Stats().Streams[StreamPredictions]
	if p.Bytes > 10*size || p.Records != 10 || p.Dropped != 90 || p.LastSeq-p.FirstSeq != 9 {
		t.Fatalf("predictions after the cap was lowered: %+v", p)
	}
	evs := dropEvents(t, q)
	if len(evs) != 1 || evs[0].Stream != StreamPredictions || evs[0].Reason != ReasonStreamCap || evs[0].Records != 90 {
		t.Fatalf("drop events %+v", evs)
	}
}
