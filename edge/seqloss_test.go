package edge

import (
	"testing"
	"time"

	"github.com/edgepm/edgepm/edge/ingest"
)

func seqReading(device string, seq uint64, at time.Time) *ingest.Reading {
	return &ingest.Reading{Device: device, DeviceSeq: seq, Time: at, Received: at}
}

// TestUpstreamLossCoalesced: a device's first gap is an event at once;
// later gaps within lossEventEvery add up into one event that dueLoss
// returns once the minute is over; duplicates count as neither.
func TestUpstreamLossCoalesced(t *testing.T) {
	tab := newDeviceTable(10, -1, nil)
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		seq     uint64
		s       int
		wantDue bool
	}{{1, 0, false}, {2, 1, false}, {5, 2, true}, {6, 3, false}, {2, 1, false}, {10, 4, false}, {20, 5, false}, {21, 6, false}}
	for i, st := range steps {
		ev, due := tab.seen(seqReading("pump-1", st.seq, at(st.s)))
		if due != st.wantDue {
			t.Fatalf("step %d: due %v, want %v", i, due, st.wantDue)
		}
		if due && (ev.counts != lossCounts{gaps: 1, missing: 2}) {
			t.Fatalf("first event counts %+v", ev.counts)
		}
	}
	if evs := tab.dueLoss(at(30), false); len(evs) != 0 {
		t.Fatalf("events before the minute is over: %+v", evs)
	}
	evs := tab.dueLoss(at(63), false)
	if len(evs) != 1 || evs[0].device != "pump-1" || (evs[0].counts != lossCounts{gaps: 2, missing: 12}) || !evs[0].since.Equal(at(4)) {
		t.Fatalf("coalesced events %+v", evs)
	}
	if evs := tab.dueLoss(at(200), true); len(evs) != 0 {
		t.Fatalf("events with nothing pending: %+v", evs)
	}
	if got, want := tab.lossTotals(), (lossCounts{gaps: 3, missing: 14}); got != want {
		t.Errorf("totals %+v, want %+v", got, want)
	}
	if d := tab.duplicates.Load(); d != 1 {
		t.Errorf("duplicates %d, want 1", d)
	}
	st, _ := tab.snapshot()
	if len(st) != 1 || st[0].SeqGaps != 3 || st[0].SeqMissing != 14 || st[0].SeqResets != 0 {
		t.Errorf("device status %+v", st)
	}
}

// TestUpstreamLossEvictedWithDevice: the seq state lives in the device's
// registry entry: an evicted device's pending loss is still reported, and
// when it comes back its counter starts afresh (no gap across the
// eviction).
func TestUpstreamLossEvictedWithDevice(t *testing.T) {
	tab := newDeviceTable(1, -1, nil)
	t0 := time.Unix(1_700_000_000, 0)
	tab.seen(seqReading("a", 1, t0))
	tab.seen(seqReading("a", 3, t0.Add(time.Second)))                        // event at once
	tab.seen(seqReading("a", 9, t0.Add(2*time.Second)))                      // pending
	tab.seen(seqReading("b", 1, t0.Add(3*time.Second)))                      // evicts a
	if _, due := tab.seen(seqReading("a", 50, t0.Add(4*time.Second))); due { // evicts b; a is new
		t.Fatal("a gap across a's eviction")
	}
	evs := tab.dueLoss(t0.Add(5*time.Second), false)
	if len(evs) != 1 || evs[0].device != "a" || (evs[0].counts != lossCounts{gaps: 1, missing: 5}) {
		t.Fatalf("evicted device's pending loss: %+v", evs)
	}
	if got := tab.lossTotals(); (got != lossCounts{gaps: 2, missing: 6}) {
		t.Errorf("totals %+v", got)
	}
}
