package ingest

import (
	"testing"
	"time"
)

func TestSeqTracker(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	recv := t0.Add(time.Hour)
	// r is a reading with counter seq and its own time t0+ts seconds;
	// ts < 0 means the payload had no timestamp.
	type step struct {
		seq  uint64
		ts   int
		want SeqResult
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{1, 1, SeqResult{}}, {2, 2, SeqResult{}}, {3, 3, SeqResult{}}}},
		{"absent counter ignored", []step{{1, 1, SeqResult{}}, {0, 2, SeqResult{}}, {2, 3, SeqResult{}}}},
		{"first counter is no gap", []step{{500, 1, SeqResult{}}, {501, 2, SeqResult{}}}},
		{"gap", []step{{1, 1, SeqResult{}}, {5, 5, SeqResult{Missing: 3}}, {6, 6, SeqResult{}}}},
		{"big gap", []step{{1, 1, SeqResult{}}, {1001, 2, SeqResult{Missing: 999}}}},
		{"redelivery after reconnect", []step{{1, 1, SeqResult{}}, {2, 2, SeqResult{}}, {3, 3, SeqResult{}},
			{2, 2, SeqResult{Duplicate: true}}, {3, 3, SeqResult{Duplicate: true}}, {4, 4, SeqResult{}}}},
		{"reset to 1 with newer time", []step{{41, 1, SeqResult{}}, {42, 2, SeqResult{}},
			{1, 3, SeqResult{Reset: true}}, {2, 4, SeqResult{}}, {4, 5, SeqResult{Missing: 1}}}},
		{"no timestamp: recent counter seen again is a duplicate", []step{{10, -1, SeqResult{}}, {11, -1, SeqResult{}},
			{10, -1, SeqResult{Duplicate: true}}, {12, -1, SeqResult{}}}},
		{"no timestamp: counter far back is a reset", []step{{100, -1, SeqResult{}}, {1, -1, SeqResult{Reset: true}}}},
		{"no timestamp: unseen counter in the window is a reset", []step{{10, -1, SeqResult{}}, {12, -1, SeqResult{Missing: 1}},
			{11, -1, SeqResult{Reset: true}}}},
		{"gap wider than the window", []step{{1, -1, SeqResult{}}, {100, -1, SeqResult{Missing: 98}},
			{100, -1, SeqResult{Duplicate: true}}, {1, -1, SeqResult{Reset: true}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s SeqTracker
			for i, st := range c.steps {
				r := Reading{DeviceSeq: st.seq, Received: recv, Time: recv}
				if st.ts >= 0 {
					r.Time = t0.Add(time.Duration(st.ts) * time.Second)
				}
				if got := s.Observe(&r); got != st.want {
					t.Fatalf("step %d (seq %d): got %+v, want %+v", i, st.seq, got, st.want)
				}
			}
		})
	}
}
