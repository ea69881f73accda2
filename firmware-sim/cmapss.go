package sim

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CMAPSSRow is one line of a NASA C-MAPSS file (train_FD001.txt,
// test_FD001.txt): unit id, cycle, three operational settings and 21
// sensor measurements.
type CMAPSSRow struct {
	Unit, Cycle int
	Op          [3]float64
	S           [21]float64
}

// ReadCMAPSS parses a C-MAPSS train or test file: 26 whitespace-separated
// numbers per line (CRLF and trailing blanks are fine), blank lines
// ignored. Within a unit, cycles must start at 1 and increase by 1.
func ReadCMAPSS(r io.Reader) ([]CMAPSSRow, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var rows []CMAPSSRow
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		row, err := parseCMAPSSRow(f)
		if err != nil {
			return nil, fmt.Errorf("read cmapss: line %d: %w", line, err)
		}
		if err := checkCycle(rows, row); err != nil {
			return nil, fmt.Errorf("read cmapss: line %d: %w", line, err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cmapss: line %d: %w", line+1, err)
	}
	return rows, nil
}

func parseCMAPSSRow(f []string) (CMAPSSRow, error) {
	var row CMAPSSRow
	if len(f) != 26 {
		return row, fmt.Errorf("%w: want 26 columns, got %d", ErrFormat, len(f))
	}
	var err error
	if row.Unit, err = strconv.Atoi(f[0]); err != nil || row.Unit <= 0 {
		return row, fmt.Errorf("%w: unit %q", ErrFormat, f[0])
	}
	if row.Cycle, err = strconv.Atoi(f[1]); err != nil || row.Cycle <= 0 {
		return row, fmt.Errorf("%w: cycle %q", ErrFormat, f[1])
	}
	for i, s := range f[2:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return row, fmt.Errorf("%w: column %d: %q", ErrFormat, i+3, s)
		}
		if i < 3 {
			row.Op[i] = v
		} else {
			row.S[i-3] = v
		}
	}
	return row, nil
}

func checkCycle(rows []CMAPSSRow, row CMAPSSRow) error {
	if len(rows) > 0 && rows[len(rows)-1].Unit == row.Unit {
		if prev := rows[len(rows)-1].Cycle; row.Cycle != prev+1 {
			return fmt.Errorf("%w: unit %d: cycle %d after %d", ErrFormat, row.Unit, row.Cycle, prev)
		}
		return nil
	}
	if row.Cycle != 1 {
		return fmt.Errorf("%w: unit %d starts at cycle %d", ErrFormat, row.Unit, row.Cycle)
	}
	return nil
}

// ReadRUL parses RUL_FD001.txt: one non-negative integer per line; line i
// is the true RUL (in cycles) of test unit i after its last cycle.
func ReadRUL(r io.Reader) ([]int, error) {
	sc := bufio.NewScanner(r)
	var out []int
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("read rul: line %d: %w: %q", line, ErrFormat, s)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read rul: %w", err)
	}
	return out, nil
}

// CMAPSSValueNames are the keys of a replayed reading's values, in file
// column order: op_setting_1..3, s1..s21.
func CMAPSSValueNames() []string {
	names := []string{"op_setting_1", "op_setting_2", "op_setting_3"}
	for i := 1; i <= 21; i++ {
		names = append(names, "s"+strconv.Itoa(i))
	}
	return names
}
