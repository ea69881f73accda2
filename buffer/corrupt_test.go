package buffer

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writeRealFile creates a closed buffer file with n readings and returns its path.
func writeRealFile(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "buffer.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 100 {
		appendN(t, q, StreamReadings, i, min(100, n-i))
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// recoveredDetail is the Detail of a buffer.recovered event.
type recoveredDetail struct {
	MovedTo   string `json:"moved_to"`
	Error     string `json:"error"`
	Salvaged  int64  `json:"salvaged_records"`
	Lost      int64  `json:"unreadable_records"`
	SeqJumped bool   `json:"seq_jumped"`
}

func recoveredEvent(t *testing.T, q *Queue) recoveredDetail {
	t.Helper()
	evs := decodeEvents(t, q, evRecovered)
	if len(evs) != 1 {
		t.Fatalf("%d %s events, want 1", len(evs), evRecovered)
	}
	var d recoveredDetail
	detailAs(t, evs[0], &d)
	return d
}

func TestCorruptFileRecovery(t *testing.T) {
	cases := map[string]struct {
		damage      func(t *testing.T, path string)
		minSalvaged int64
		maxSalvaged int64
	}{
		"garbage": {func(t *testing.T, path string) {
			b := make([]byte, 64<<10)
			for i := range b {
				b[i] = byte(rand.Uint32())
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, 0, 0},
		"truncated": {func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/3); err != nil {
				t.Fatal(err)
			}
		}, 0, 2000},
		// bbolt refuses the file; the page scan recovers every record.
		"zeroed meta pages": {func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			defer f.Close()
			_, _ = f.WriteAt(make([]byte, 2*pageSize), 0)
		}, 2000, 2000},
		"flipped record byte": {func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			i := bytes.Index(b, []byte(`{"i":000777}`))
			if i < 0 {
				t.Fatal("record not found in file")
			}
			b[i+6] ^= 0x01
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, 1999, 1999},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeRealFile(t, 2000)
			rep, err := Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			var oldLast uint64
			for _, s := range rep.Streams {
				oldLast = max(oldLast, s.LastSeq)
			}
			c.damage(t, path)
			floor := seqFloor(time.Now())
			q := openTestQueue(t, path, Options{})
			moved, _ := filepath.Glob(path + ".corrupt-*")
			if len(moved) != 1 {
				t.Fatalf("moved aside: %v", moved)
			}
			h := q.Health()
			if len(h) != 1 || h[0].Name != CondRecovered || !strings.Contains(h[0].Message, moved[0]) {
				t.Fatalf("health %+v", h)
			}
			ev := recoveredEvent(t, q)
			if ev.MovedTo != moved[0] || ev.Salvaged < c.minSalvaged || ev.Salvaged > c.maxSalvaged {
				t.Fatalf("event %+v", ev)
			}
			got, _ := q.Read(StreamReadings, 0, 1<<20)
			if int64(len(got)) != ev.Salvaged {
				t.Fatalf("read %d, salvaged %d", len(got), ev.Salvaged)
			}
			// The fresh buffer works and sequences never go back.
			r := appendN(t, q, StreamReadings, 0, 1)
			if r[0].Seq <= oldLast {
				t.Fatalf("seq after recovery %d, must exceed the old file's %d", r[0].Seq, oldLast)
			}
			// Without the old meta the sequences jump to the time floor;
			// with it they continue where the old file stopped.
			if ev.SeqJumped && r[0].Seq <= floor || !ev.SeqJumped && r[0].Seq != oldLast+1 {
				t.Fatalf("seq_jumped=%v but seq %d (old last %d, floor %d)", ev.SeqJumped, r[0].Seq, oldLast, floor)
			}
		})
	}
}

// bbolt keeps two meta pages: losing one is survived without recovery, at
// the cost of the last commit when the zeroed page was the newer one.
func TestOneMetaPageZeroed(t *testing.T) {
	path := writeRealFile(t, 500)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteAt(make([]byte, pageSize), 0)
	_ = f.Close()
	q := openTestQueue(t, path, Options{})
	if h := q.Health(); len(h) != 0 {
		t.Fatalf("health %+v", h)
	}
	if got, _ := q.Read(StreamReadings, 0, 1000); len(got) != 500 && len(got) != 400 {
		t.Fatalf("read %d", len(got))
	}
}

func TestMissingFileIsNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "buffer.db")
	floor := seqFloor(time.Now())
	q := openTestQueue(t, path, Options{})
	if h := q.Health(); len(h) != 0 {
		t.Fatalf("health %+v", h)
	}
	if r := appendN(t, q, StreamReadings, 0, 1); r[0].Seq <= floor {
		t.Fatalf("seq %d in a new file, want > %d (Unix µs at Open)", r[0].Seq, floor)
	}
}

// A 0-byte file (a crash during creation, a filesystem that lost the data)
// is not a new buffer: it is moved aside, reported and counted like any
// other unusable file (issue 16 #3).
func TestEmptyFileIsRecovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	floor := seqFloor(time.Now())
	q := openTestQueue(t, path, Options{Registerer: reg})
	moved, _ := filepath.Glob(path + ".corrupt-*")
	if len(moved) != 1 {
		t.Fatalf("moved aside: %v", moved)
	}
	if h := q.Health(); len(h) != 1 || h[0].Name != CondRecovered || !strings.Contains(h[0].Message, "empty") {
		t.Fatalf("health %+v", h)
	}
	if ev := recoveredEvent(t, q); ev.MovedTo != moved[0] || !ev.SeqJumped || ev.Salvaged != 0 || !strings.Contains(ev.Error, "empty") {
		t.Fatalf("event %+v", ev)
	}
	if v := gatherValue(t, reg, "edgepm_buffer_recovered_files_total"); v != 1 {
		t.Fatalf("edgepm_buffer_recovered_files_total = %v, want 1", v)
	}
	if r := appendN(t, q, StreamReadings, 0, 1); r[0].Seq <= floor {
		t.Fatalf("seq %d, want > %d (Unix µs at Open)", r[0].Seq, floor)
	}
}

// gatherValue is the value of an unlabelled counter or gauge.
func gatherValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestLockedFileIsNotMovedAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	q := openTestQueue(t, path, Options{})
	appendN(t, q, StreamReadings, 0, 3)
	start := time.Now()
	_, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("lock timeout not honoured")
	}
	if moved, _ := filepath.Glob(path + ".*"); len(moved) != 0 {
		t.Fatalf("moved: %v", moved)
	}
	if got, _ := q.Read(StreamReadings, 0, 10); len(got) != 3 {
		t.Fatalf("read %d", len(got))
	}
}
