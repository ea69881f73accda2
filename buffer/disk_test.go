package buffer

import (
	"path/filepath"
	"strings"
	"testing"
)

// A buffer.max_bytes above the disk's room is a warning condition (status
// shows it among the warnings) at Open, not a surprise during an outage.
func TestDiskSmallerThanMaxBytes(t *testing.T) {
	for _, c := range []struct {
		free int64
		want bool
	}{{1 << 20, true}, {1 << 40, false}} {
		opts := Options{MaxBytes: 64 << 20}
		opts.freeBytes = func(string) (int64, error) { return c.free, nil }
		q := openTestQueue(t, filepath.Join(t.TempDir(), "buffer.db"), opts)
		h := q.Health()
		got := len(h) == 1 && h[0].Name == CondDiskSmall && h[0].Severity == SeverityWarning &&
			strings.Contains(h[0].Message, "buffer.max_bytes=67108864")
		if got != c.want || (!c.want && len(h) != 0) {
			t.Fatalf("free %d bytes: health %+v, want the warning: %v", c.free, h, c.want)
		}
	}
}

func TestDiskFree(t *testing.T) {
	n, err := diskFree(t.TempDir())
	if err != nil || n <= 0 {
		t.Fatalf("diskFree = %d, %v", n, err)
	}
}
