package buffer

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestInspectAndExport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	q := openTestQueue(t, path, Options{})
	b := appendN(t, q, StreamReadings, 0, 10)[0].Seq - 1
	appendN(t, q, StreamAlerts, 0, 2)
	if err := q.Ack(StreamReadings, b+3); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("inspect while open: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]StreamReport{}
	for _, s := range rep.Streams {
		byName[s.Name] = s
	}
	if r := byName[StreamReadings]; r.Records != 7 || r.FirstSeq != b+4 || r.LastSeq != b+10 || r.OldestTime.IsZero() {
		t.Fatalf("readings %+v", r)
	}
	if len(rep.Streams) != 5 || rep.Format != 1 || rep.FileSize == 0 {
		t.Fatalf("report %+v", rep)
	}
	var seqs []uint64
	err = Export(path, StreamReadings, b+5, 3, func(r Record) error {
		seqs = append(seqs, r.Seq)
		return nil
	})
	if err != nil || len(seqs) != 3 || seqs[0] != b+6 || seqs[2] != b+8 {
		t.Fatalf("export %v %v", seqs, err)
	}
	if err := Export(path, "nope", 0, 0, func(Record) error { return nil }); !errors.Is(err, ErrUnknownStream) {
		t.Fatalf("export unknown: %v", err)
	}
}
