package buffer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fillUntilWriteError appends 100-record batches until a commit fails.
func fillUntilWriteError(t *testing.T, q *Queue) (appended int) {
	t.Helper()
	for i := 0; i < 1_000_000; i += 100 {
		recs := make([]Record, 100)
		for j := range recs {
			recs[j] = Record{Stream: StreamReadings, Value: make([]byte, 200)}
		}
		err := q.Append(context.Background(), recs)
		if errors.Is(err, ErrWrite) {
			return i
		}
		if err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	t.Fatal("disk never filled")
	return 0
}

func checkWriteFaultRecovery(t *testing.T, q *Queue) {
	t.Helper()
	n := fillUntilWriteError(t, q)
	h := withoutCond(q.Health(), CondDiskSmall)
	if len(h) != 1 || h[0].Name != CondWriteFailed || h[0].Severity != SeverityError {
		t.Fatalf("health %+v", h)
	}
	got, err := q.Read(StreamReadings, 0, n+1)
	if err != nil || len(got) != n {
		t.Fatalf("read during fault: %d records (appended %d), %v", len(got), n, err)
	}
	if err := q.Ack(StreamReadings, got[n/2].Seq); err != nil {
		t.Fatalf("ack during fault: %v", err)
	}
	if err := q.Append(context.Background(), []Record{rec(StreamReadings, 0)}); err != nil {
		t.Fatalf("append after space freed: %v", err)
	}
	if h := withoutCond(q.Health(), CondDiskSmall); len(h) != 0 {
		t.Fatalf("health after recovery %+v", h)
	}
}

// withoutCond is h without the condition named name.
func withoutCond(h []Condition, name string) []Condition {
	var out []Condition
	for _, c := range h {
		if c.Name != name {
			out = append(out, c)
		}
	}
	return out
}

// The file cannot grow past fileMaxBytes: bbolt fails the commit as a full
// disk would.
func TestWriteErrorSeam(t *testing.T) {
	q := newTestQueue(t, Options{fileMaxBytes: 2 << 20})
	checkWriteFaultRecovery(t, q)
}

// A real full disk: a 4 MiB tmpfs (needs root; skipped otherwise).
func TestWriteErrorTmpfs(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	q, err := Open(filepath.Join(mnt, "buffer.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := q.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	// 4 MiB of disk for a 512 MiB cap: statfs says so at Open.
	if h := q.Health(); len(h) != 1 || h[0].Name != CondDiskSmall {
		t.Fatalf("health at Open %+v, want %s", h, CondDiskSmall)
	}
	checkWriteFaultRecovery(t, q)
}
