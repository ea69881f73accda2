package replay

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/internal/wire"
)

// Reading is one recorded reading of one device.
type Reading struct {
	Device string
	Time   time.Time
	Values map[string]float64
	// Waves holds the reading's waveform block by channel (JSON lines only).
	Waves map[string]features.Waveform

	names map[string]string // sensor names, kept by DecodeReading across calls
}

// Input formats (Read).
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// maxLine bounds one JSON line (a reading with a large waveform block).
const maxLine = 16 << 20

// FormatOf returns the input format for a file name: csv for .csv, else jsonl.
func FormatOf(name string) string {
	if strings.HasSuffix(strings.ToLower(name), ".csv") {
		return FormatCSV
	}
	return FormatJSONL
}

// Read decodes readings from r in format and calls fn for each, in file
// order; it stops at fn's first error. A line that does not decode is an
// error naming its line number.
func Read(r io.Reader, format string, fn func(Reading) error) error {
	switch format {
	case FormatJSONL:
		return readJSONL(r, fn)
	case FormatCSV:
		return readCSV(r, fn)
	}
	return fmt.Errorf("readings format %q: want %s or %s", format, FormatJSONL, FormatCSV)
}

func readJSONL(r io.Reader, fn func(Reading) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rd Reading
		if err := DecodeReading(b, &rd); err != nil {
			return fmt.Errorf("readings line %d: %w", line, err)
		}
		if err := fn(rd); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read readings: %w", err)
	}
	return nil
}

// DecodeReading decodes one edgepm.readings record value (a JSON line of
// a readings file, or a Kafka record's value) into dst, reusing dst.Values
// (cleared first) so that a caller decoding many records allocates less;
// the feature windows copy the values, they do not keep the map.
func DecodeReading(b []byte, dst *Reading) error {
	if decodeFast(b, dst) {
		return nil
	}
	return decodeJSON(b, dst)
}

func decodeJSON(b []byte, dst *Reading) error {
	w := wire.Reading{Values: dst.Values}
	clear(w.Values)
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("not an edgepm.readings record: %w", err)
	}
	if w.Device == "" {
		return fmt.Errorf("no device")
	}
	*dst = Reading{Device: w.Device, Time: time.UnixMilli(w.TS), Values: w.Values, names: dst.names}
	if wf := w.Waveform; wf != nil && wf.Channel != "" {
		dst.Waves = map[string]features.Waveform{wf.Channel: {RateHz: wf.RateHz, Samples: wf.Samples}}
	}
	return nil
}

func readCSV(r io.Reader, fn func(Reading) error) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return fmt.Errorf("readings csv header: %w", err)
	}
	if len(head) < 3 || head[0] != "device" || head[1] != "ts" {
		return fmt.Errorf("readings csv header: want device,ts,SENSOR..., got %s", strings.Join(head, ","))
	}
	sensors := append([]string(nil), head[2:]...)
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("readings csv: %w", err)
		}
		rd, err := csvReading(rec, sensors)
		if err != nil {
			return fmt.Errorf("readings csv line %d: %w", line, err)
		}
		if err := fn(rd); err != nil {
			return err
		}
	}
}

func csvReading(rec, sensors []string) (Reading, error) {
	if rec[0] == "" {
		return Reading{}, fmt.Errorf("no device")
	}
	t, err := parseTS(rec[1])
	if err != nil {
		return Reading{}, err
	}
	rd := Reading{Device: rec[0], Time: t, Values: make(map[string]float64, len(sensors))}
	for i, s := range sensors {
		cell := strings.TrimSpace(rec[i+2])
		if cell == "" {
			continue
		}
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			return Reading{}, fmt.Errorf("sensor %s: %q is not a number", s, cell)
		}
		rd.Values[s] = v
	}
	return rd, nil
}

func parseTS(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("ts %q: want unix milliseconds or RFC 3339", s)
}

// finite reports whether v is a usable sensor value.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
