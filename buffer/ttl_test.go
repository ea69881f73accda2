package buffer

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestTTLWithInjectedClock(t *testing.T) {
	clk := newFakeClock()
	q := newTestQueue(t, Options{
		Now:     clk.Now,
		Streams: map[string]StreamOptions{StreamReadings: {TTL: time.Hour}},
	})
	first := appendN(t, q, StreamReadings, 0, 5)
	clk.Add(30 * time.Minute)
	second := appendN(t, q, StreamReadings, 5, 5)
	appendN(t, q, StreamPredictions, 0, 1) // no TTL
	clk.Add(45 * time.Minute)
	if err := q.maintainNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := q.Read(StreamReadings, 0, 100)
	if len(got) != 5 || got[0].Seq != second[0].Seq || second[0].Seq != first[4].Seq+1 {
		t.Fatalf("after 75m: %d records, first %+v", len(got), got)
	}
	st := q.Stats().Streams[StreamReadings]
	if st.Dropped != 5 || !st.OldestTime.Equal(got[0].Time) {
		t.Fatalf("stats %+v", st)
	}
	evs := dropEvents(t, q)
	if len(evs) != 1 || evs[0].Reason != ReasonTTL || evs[0].Records != 5 || evs[0].TS != clk.Now().UnixMilli() {
		t.Fatalf("events %+v", evs)
	}
	clk.Add(time.Hour)
	if err := q.maintainNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Read(StreamReadings, 0, 100); len(got) != 0 {
		t.Fatalf("after 2h15m: %d records", len(got))
	}
	if got, _ := q.Read(StreamPredictions, 0, 100); len(got) != 1 {
		t.Fatalf("predictions have no TTL: %d records", len(got))
	}
}

// Concurrent appenders share commits; every seq is assigned exactly once.
func TestConcurrentAppendGroupCommit(t *testing.T) {
	q := newTestQueue(t, Options{})
	base := q.Stats().Streams[StreamReadings].LastSeq
	const workers, per = 16, 200
	var wg sync.WaitGroup
	seqs := make(chan uint64, workers*per)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				r := []Record{rec(StreamReadings, w*per+i)}
				if err := q.Append(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
				seqs <- r[0].Seq
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := make(map[uint64]bool)
	for s := range seqs {
		if seen[s] || s <= base || s > base+workers*per {
			t.Fatalf("bad or duplicate seq %d", s)
		}
		seen[s] = true
	}
	if len(seen) != workers*per {
		t.Fatalf("%d seqs", len(seen))
	}
	got, _ := q.Read(StreamReadings, 0, workers*per+1)
	if len(got) != workers*per {
		t.Fatalf("read %d", len(got))
	}
}
