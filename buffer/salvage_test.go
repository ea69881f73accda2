package buffer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// salvageFixture is a closed buffer file with readings and predictions
// (the first readings acked, so freed pages hold stale copies) and the
// framed values of its records.
type salvageFixture struct {
	path  string
	live  map[string]map[uint64][]byte // stream -> seq -> framed, as stored at Close
	acked map[string]map[uint64][]byte // records acked before Close
}

func newSalvageFixture(t *testing.T) *salvageFixture {
	t.Helper()
	fx := &salvageFixture{path: filepath.Join(t.TempDir(), "buffer.db"),
		live: map[string]map[uint64][]byte{}, acked: map[string]map[uint64][]byte{}}
	q, err := Open(fx.path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	pad := bytes.Repeat([]byte("x"), 180)
	for i := 0; i < 20000; i += 200 {
		var recs []Record
		for j := i; j < i+200; j++ {
			stream, field := StreamReadings, "values"
			if j%5 == 0 {
				stream, field = StreamPredictions, "score"
			}
			recs = append(recs, Record{Stream: stream, Key: []byte("pump-0001"),
				Value: fmt.Appendf(nil, `{"i":%06d,"%s":1,"pad":"%s"}`, j, field, pad)})
		}
		if err := q.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	fx.collect(t, q, fx.acked, StreamReadings, 3000)
	if err := q.Ack(StreamReadings, maxSeq(fx.acked[StreamReadings])); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{StreamReadings, StreamPredictions} {
		fx.collect(t, q, fx.live, s, 1<<30)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	return fx
}

// testStreamOf tells the fixture's streams apart by a field, as
// wire.StreamOf does for edgepm's records.
func testStreamOf(r Record) (string, bool) {
	switch {
	case bytes.Contains(r.Value, []byte(`"score":`)):
		return StreamPredictions, true
	case bytes.Contains(r.Value, []byte(`"values":`)):
		return StreamReadings, true
	}
	return "", false
}

func (fx *salvageFixture) collect(t *testing.T, q *Queue, into map[string]map[uint64][]byte, stream string, n int) {
	t.Helper()
	recs, err := q.Read(stream, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	into[stream] = map[uint64][]byte{}
	for _, r := range recs {
		into[stream][r.Seq] = appendRecord(nil, &r)
	}
}

func maxSeq(m map[uint64][]byte) uint64 {
	var s uint64
	for k := range m {
		s = max(s, k)
	}
	return s
}

// intactLive counts the live records whose framed bytes are still whole
// somewhere in the damaged file: found by searching the file's bytes, not by
// the page scan under test.
func (fx *salvageFixture) intactLive(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	bySeqCRC := map[string][]byte{}
	for _, recs := range fx.live {
		for _, f := range recs {
			bySeqCRC[string(f[:13])] = f
		}
	}
	found := map[string]bool{}
	for i := 0; i+recordHeaderLen <= len(b); i++ {
		if b[i] != recordVersion {
			continue
		}
		if f, ok := bySeqCRC[string(b[i:i+13])]; ok && bytes.HasPrefix(b[i:], f) {
			found[string(f[:13])] = true
		}
	}
	return len(found)
}

// recovered checks what the fresh queue holds: every record is a live or
// acked record of its own stream, byte for byte, in sequence order. It
// returns how many live records came back.
func (fx *salvageFixture) recovered(t *testing.T, q *Queue) int {
	t.Helper()
	n := 0
	for stream, live := range fx.live {
		recs, err := q.Read(stream, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if i > 0 && r.Seq <= recs[i-1].Seq {
				t.Fatalf("%s: seq %d after %d", stream, r.Seq, recs[i-1].Seq)
			}
			f := appendRecord(nil, &r)
			if want, ok := live[r.Seq]; ok && bytes.Equal(f, want) {
				n++
			} else if want, ok := fx.acked[stream][r.Seq]; !ok || !bytes.Equal(f, want) {
				t.Fatalf("%s/%d salvaged, but no such record was ever in %s: %q", stream, r.Seq, stream, r.Value)
			}
		}
	}
	return n
}

// TestSalvageTruncatedAndDamaged: a file bbolt cannot read (truncated at
// several offsets, random pages overwritten) is moved aside and every live
// record whose bytes survived is recovered into its own stream. The share
// recovered against the records still intact is logged; records on intact
// leaf pages must all come back.
func TestSalvageTruncatedAndDamaged(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"truncated 1/4": truncateTo(1, 4),
		"truncated 1/2": truncateTo(1, 2),
		"truncated 3/4": truncateTo(3, 4),
		"truncated mid-page": func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/2+pageSize/3); err != nil {
				t.Fatal(err)
			}
		},
		"random pages overwritten": damagePages(0.05, false),
		"random pages zeroed":      damagePages(0.10, true),
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			fx := newSalvageFixture(t)
			total := len(fx.live[StreamReadings]) + len(fx.live[StreamPredictions])
			damage(t, fx.path)
			intact := fx.intactLive(t)
			q := openTestQueue(t, fx.path, Options{StreamOf: testStreamOf})
			got := fx.recovered(t, q)
			if h := q.Health(); len(h) == 0 {
				// Only unused space was cut off (bbolt grows the file
				// ahead of its data): the file is whole.
				if got != total || intact != total {
					t.Fatalf("file accepted, but %d of %d live records read (%d intact)", got, total, intact)
				}
				return
			} else if len(h) != 1 || h[0].Name != CondRecovered {
				t.Fatalf("health %+v", h)
			}
			ev := recoveredEvent(t, q)
			t.Logf("%s: %d of %d live records intact in the file, %d recovered (%.1f%%); event salvaged=%d unreadable=%d",
				name, intact, total, got, 100*float64(got)/float64(max(intact, 1)), ev.Salvaged, ev.Lost)
			if got != intact {
				t.Fatalf("recovered %d live records, %d are intact in the file", got, intact)
			}
			if ev.Salvaged < int64(got) {
				t.Fatalf("event says %d salvaged, %d live records are back", ev.Salvaged, got)
			}
		})
	}
}

// Without StreamOf, records whose leaf pages lost their branch pages cannot
// be told apart when two streams had pages: they are counted unreadable,
// never put into the wrong stream.
func TestSalvageWithoutStreamOf(t *testing.T) {
	fx := newSalvageFixture(t)
	truncateTo(1, 2)(t, fx.path)
	intact := fx.intactLive(t)
	q := openTestQueue(t, fx.path, Options{})
	got := fx.recovered(t, q) // fails on a record in the wrong stream
	ev := recoveredEvent(t, q)
	t.Logf("without StreamOf: %d of %d intact live records recovered, %d unreadable", got, intact, ev.Lost)
	if ev.Lost < int64(intact-got) {
		t.Fatalf("%d intact records not recovered, but only %d reported unreadable", intact-got, ev.Lost)
	}
}

// A file of one stream needs no StreamOf: its orphaned leaves can only be
// that stream's.
func TestSalvageSingleStreamTruncated(t *testing.T) {
	path := writeRealFile(t, 30000)
	truncateTo(1, 2)(t, path)
	q := openTestQueue(t, path, Options{})
	ev := recoveredEvent(t, q)
	got, _ := q.Read(StreamReadings, 0, 1<<20)
	t.Logf("one stream, truncated to half: %d readings salvaged, %d unreadable", len(got), ev.Lost)
	if len(got) < 10000 || int64(len(got)) != ev.Salvaged {
		t.Fatalf("salvaged %d readings (event %+v), want most of the first half of 30000", len(got), ev)
	}
}

func truncateTo(num, den int64) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, fi.Size()*num/den); err != nil {
			t.Fatal(err)
		}
	}
}

// damagePages overwrites a share of the pages past the two meta pages with
// random bytes (or zeros), so bbolt's walk fails.
func damagePages(share float64, zero bool) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, uint64(len(b))))
		pages := len(b) / pageSize
		for i := 2; i < pages; i++ {
			if rng.Float64() >= share {
				continue
			}
			p := b[i*pageSize : (i+1)*pageSize]
			for j := range p {
				p[j] = 0
				if !zero {
					p[j] = byte(rng.Uint32())
				}
			}
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// InspectSalvage and ExportSalvage read what Open would salvage, offline,
// from a file bbolt cannot read.
func TestInspectAndExportSalvage(t *testing.T) {
	fx := newSalvageFixture(t)
	truncateTo(1, 2)(t, fx.path)
	intact := fx.intactLive(t)
	if _, err := Inspect(fx.path); err == nil {
		t.Fatal("Inspect read the truncated file; the test needs one bbolt cannot read")
	}
	rep, err := InspectSalvage(fx.path, testStreamOf)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Salvage == nil || rep.Salvage.Recovered < int64(intact) || len(rep.Streams) != 2 {
		t.Fatalf("report %+v, salvage %+v; %d live records intact", rep, rep.Salvage, intact)
	}
	live := 0
	for _, s := range rep.Streams {
		var prev uint64
		err := ExportSalvage(fx.path, s.Name, 0, 0, testStreamOf, func(r Record) error {
			f := appendRecord(nil, &r)
			if r.Seq <= prev || r.Stream != s.Name {
				t.Fatalf("%s: record %s/%d after %d", s.Name, r.Stream, r.Seq, prev)
			}
			prev = r.Seq
			if bytes.Equal(fx.live[s.Name][r.Seq], f) {
				live++
			} else if !bytes.Equal(fx.acked[s.Name][r.Seq], f) {
				t.Fatalf("%s/%d exported, but no such record was ever in %s", s.Name, r.Seq, s.Name)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if prev != s.LastSeq {
			t.Fatalf("%s: export ended at %d, inspect says last seq %d", s.Name, prev, s.LastSeq)
		}
	}
	if live != intact {
		t.Fatalf("exported %d live records, %d intact", live, intact)
	}
	var got []uint64
	first := rep.Streams[0]
	err = ExportSalvage(fx.path, first.Name, first.FirstSeq, 2, testStreamOf, func(r Record) error {
		got = append(got, r.Seq)
		return nil
	})
	if err != nil || len(got) != 2 || got[0] <= first.FirstSeq {
		t.Fatalf("export after %d limit 2: %v %v", first.FirstSeq, got, err)
	}
}
