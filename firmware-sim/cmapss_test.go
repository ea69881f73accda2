package sim

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// datasetsDir finds ../shared/datasets from the repo root, or
// $EDGEPM_DATASETS; it skips when absent unless CI=true.
func datasetsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("EDGEPM_DATASETS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "shared", "datasets")
	}
	if _, err := os.Stat(filepath.Join(dir, "cmapss", "train_FD001.txt")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("datasets missing (CI=true): %v", err)
		}
		t.Skipf("datasets missing: %v (set EDGEPM_DATASETS)", err)
	}
	return filepath.Join(dir, "cmapss")
}

func readCMAPSSFile(t *testing.T, path string) []CMAPSSRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ReadCMAPSS(f)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestReadCMAPSSTrain(t *testing.T) {
	dir := datasetsDir(t)
	rows := readCMAPSSFile(t, filepath.Join(dir, "train_FD001.txt"))
	if len(rows) != 20631 {
		t.Fatalf("rows %d, want 20631", len(rows))
	}
	rp, err := NewReplay(rows, ReplayConfig{Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	devs := rp.Devices()
	if len(devs) != 100 || devs[0] != "engine-001" || devs[99] != "engine-100" || rp.Len() != 20631 {
		t.Fatalf("devices %d (%s..%s), len %d", len(devs), devs[0], devs[len(devs)-1], rp.Len())
	}
	first := rows[0]
	if first.Unit != 1 || first.Cycle != 1 || first.Op[2] != 100 || first.S[1] != 641.82 {
		t.Fatalf("first row %+v", first)
	}
	n, failed, ticks := 0, 0, 0
	for {
		rs, ok := rp.Next()
		if !ok {
			break
		}
		ticks++
		for _, r := range rs {
			n++
			if r.Truth.Failed {
				failed++
				if r.Truth.RUL != 0 || !r.Truth.FailureAt.Equal(r.Time) {
					t.Fatalf("failed reading %+v", r.Truth)
				}
			}
			if len(r.Values) != 24 || r.Truth.RUL != r.Truth.FailureAt.Sub(r.Time) {
				t.Fatalf("reading %+v", r)
			}
		}
	}
	if n != 20631 || failed != 100 || ticks != 362 {
		t.Fatalf("readings %d, failures %d, ticks %d", n, failed, ticks)
	}
}

func TestReadCMAPSSTest(t *testing.T) {
	dir := datasetsDir(t)
	rows := readCMAPSSFile(t, filepath.Join(dir, "test_FD001.txt"))
	f, err := os.Open(filepath.Join(dir, "RUL_FD001.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rul, err := ReadRUL(f)
	if err != nil || len(rul) != 100 || rul[0] != 112 {
		t.Fatalf("rul %v %v", len(rul), err)
	}
	if len(rows) != 13096 {
		t.Fatalf("rows %d", len(rows))
	}
	rp, err := NewReplay(rows, ReplayConfig{RUL: rul})
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := rp.Next()
	// unit 1 has 31 test cycles and true RUL 112 after the last: 142 at cycle 1.
	if rs[0].Truth.RUL != 142*time.Hour || rs[0].Truth.Failed {
		t.Fatalf("unit 1 cycle 1 truth %+v", rs[0].Truth)
	}
	if _, err := NewReplay(rows, ReplayConfig{RUL: rul[:5]}); err == nil {
		t.Fatal("short RUL accepted")
	}
}

func TestReadCMAPSSBad(t *testing.T) {
	good := "1 1 " + strings.Repeat("0.5 ", 24) + "\r\n"
	for name, in := range map[string]string{
		"columns":  "1 1 0.5\n",
		"number":   "1 1 " + strings.Repeat("x ", 24) + "\n",
		"gap":      good + "1 3 " + strings.Repeat("0.5 ", 24) + "\n",
		"start":    "2 2 " + strings.Repeat("0.5 ", 24) + "\n",
		"negative": "-1 1 " + strings.Repeat("0.5 ", 24) + "\n",
	} {
		_, err := ReadCMAPSS(strings.NewReader(in))
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
	rows, err := ReadCMAPSS(strings.NewReader(good + "\n"))
	if err != nil || len(rows) != 1 {
		t.Fatalf("good: %v %v", rows, err)
	}
	if _, err := ReadRUL(strings.NewReader("12\nx\n")); !errors.Is(err, ErrFormat) {
		t.Errorf("rul: %v", err)
	}
}
