package replay

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/edgepm/edgepm/inference/features"
)

// RowWriter writes feature rows as CSV: a header `device,window_end,` and
// one column per input value (modelpkg.Manifest.InputColumns: a feature as
// vibration_rms.mean, a window value as vibration_rms[-3]), then one line per row with window_end in unix ms
// and each value in the shortest form that reads back as the same float32.
type RowWriter struct {
	w   *csv.Writer
	rec []string
}

// NewRowWriter writes the header for columns to w.
func NewRowWriter(w io.Writer, columns []string) (*RowWriter, error) {
	head := append([]string{"device", "window_end"}, columns...)
	rw := &RowWriter{w: csv.NewWriter(w), rec: make([]string, len(head))}
	if err := rw.w.Write(head); err != nil {
		return nil, fmt.Errorf("write feature rows: %w", err)
	}
	return rw, nil
}

// Write writes one row.
func (rw *RowWriter) Write(r features.Row) error {
	if len(r.Features)+2 != len(rw.rec) {
		return fmt.Errorf("write feature rows: row of %s has %d features, header %d", r.Device, len(r.Features), len(rw.rec)-2)
	}
	rw.rec[0], rw.rec[1] = r.Device, strconv.FormatInt(r.WindowEnd.UnixMilli(), 10)
	for i, v := range r.Features {
		rw.rec[i+2] = strconv.FormatFloat(float64(v), 'g', -1, 32)
	}
	if err := rw.w.Write(rw.rec); err != nil {
		return fmt.Errorf("write feature rows: %w", err)
	}
	return nil
}

// Flush flushes buffered rows and returns any write error.
func (rw *RowWriter) Flush() error {
	rw.w.Flush()
	if err := rw.w.Error(); err != nil {
		return fmt.Errorf("write feature rows: %w", err)
	}
	return nil
}
