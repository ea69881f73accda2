package buffer

import (
	"context"
	"testing"
)

// fillDrainCycles fills the buffer past its cap (readings drop oldest) and
// drains it completely, cycles times, and returns the largest file size seen.
func fillDrainCycles(t testing.TB, q *Queue, cycles, valueSize int) (maxFile int64) {
	ctx := context.Background()
	capBytes := q.Stats().MaxBytes
	per := storedSize(encodedLen(&Record{Value: make([]byte, valueSize), Key: []byte("pump-0001")}))
	n := int(capBytes/per) * 5 / 4 // overfill by 25%: drops happen
	for c := range cycles {
		for i := 0; i < n; i += 256 {
			recs := make([]Record, min(256, n-i))
			for j := range recs {
				recs[j] = Record{Stream: StreamReadings, Key: []byte("pump-0001"), Value: make([]byte, valueSize)}
			}
			if err := q.Append(ctx, recs); err != nil {
				t.Fatalf("cycle %d: append: %v", c, err)
			}
		}
		maxFile = max(maxFile, q.Stats().FileSize)
		var after uint64
		for {
			recs, err := q.Read(StreamReadings, after, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			after = recs[len(recs)-1].Seq
			if err := q.Ack(StreamReadings, after); err != nil {
				t.Fatal(err)
			}
		}
		maxFile = max(maxFile, q.Stats().FileSize)
		if s := q.Stats(); s.Streams[StreamReadings].Records != 0 || s.Bytes > capBytes {
			t.Fatalf("cycle %d: not drained: %+v", c, s)
		}
	}
	return maxFile
}

func TestFillDrainFileSizeBound(t *testing.T) {
	const capBytes = 16 << 20
	for _, size := range []int{200, 3000} {
		q := newTestQueue(t, Options{MaxBytes: capBytes, NoSync: true}) // NoSync: speed only; sizes are the same
		maxFile := fillDrainCycles(t, q, 4, size)
		ratio := float64(maxFile) / capBytes
		t.Logf("value %d B: max file %d bytes = %.3f x cap (final %d)", size, maxFile, ratio, q.Stats().FileSize)
		if ratio > 1.25 {
			t.Errorf("value %d B: file grew to %.2f x cap", size, ratio)
		}
	}
}

// Lowering the cap leaves a file far above the new bound; once the queue is
// small again it is compacted back under it, without losing records.
func TestCompactionAfterCapLowered(t *testing.T) {
	path := writeRealFile(t, 40000) // ~3 MB of readings in a larger file
	q := openTestQueue(t, path, Options{MaxBytes: 1 << 20, CompactMinBytes: 1})
	before := q.Stats().FileSize
	appendN(t, q, StreamReadings, 0, 100) // drops to fit the new cap
	recs, _ := q.Read(StreamReadings, 0, 1<<20)
	if err := q.Ack(StreamReadings, recs[len(recs)-100].Seq); err != nil {
		t.Fatal(err)
	}
	waitCompaction(q) // started by the ack's commit
	s := q.Stats()
	if s.FileSize > 5<<20/4 || s.FileSize >= before {
		t.Fatalf("file %d bytes (was %d), bound %d", s.FileSize, before, 5<<20/4)
	}
	got, _ := q.Read(StreamReadings, 0, 1<<20)
	if len(got) != 99 || got[98].Seq != recs[len(recs)-1].Seq {
		t.Fatalf("after compaction: %d records", len(got))
	}
	appendN(t, q, StreamReadings, 0, 10)
}
