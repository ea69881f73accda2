package sim

import (
	"fmt"
	"time"
)

// ClassEngine is the class of replayed C-MAPSS units.
const ClassEngine = "engine"

// RULCap is the piecewise-linear RUL cap (cycles) of the usual FD001
// protocol; replay truth uses it for Health and Degrading.
const RULCap = 125

// ReplayConfig configures a Replay. Zero values mean the defaults.
type ReplayConfig struct {
	// Interval is the simulated time of one cycle (default 1h). Reading
	// time of cycle c is Start + c*Interval.
	Interval time.Duration
	Start    time.Time // default DefaultStart
	// RUL, for a test file, holds RUL_FD001.txt (true RUL after each
	// unit's last cycle). Nil means a training file: every unit runs to
	// failure at its last cycle.
	RUL []int
}

// Replay is a Source that replays C-MAPSS rows as a fleet: tick k yields
// cycle k of every unit that has one, in unit order. Device ids are
// "engine-001"; values are op_setting_1..3 and s1..s21; Seq is the cycle.
// Truth: RUL = (last cycle - cycle) for training units, RUL file + last
// cycle - cycle for test units, in Interval units; Health =
// min(1, RUL/RULCap); Degrading = RUL < RULCap cycles; Failed (and not
// Degrading) at the last cycle of a training unit.
type Replay struct {
	cfg   ReplayConfig
	units [][]CMAPSSRow
	names []string
	tick  int
	buf   []Reading
	max   int
}

// NewReplay groups rows by unit. With cfg.RUL set, it must have one entry
// per unit (units numbered 1..n).
func NewReplay(rows []CMAPSSRow, cfg ReplayConfig) (*Replay, error) {
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("new replay: %w: interval: must be > 0, got %s", ErrConfig, cfg.Interval)
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	rp := &Replay{cfg: cfg, names: CMAPSSValueNames()}
	for i, row := range rows {
		if i == 0 || row.Unit != rows[i-1].Unit {
			rp.units = append(rp.units, nil)
		}
		u := len(rp.units) - 1
		rp.units[u] = append(rp.units[u], row)
		rp.max = max(rp.max, row.Cycle)
	}
	if cfg.RUL != nil && len(cfg.RUL) != len(rp.units) {
		return nil, fmt.Errorf("new replay: %w: %d RUL values for %d units", ErrConfig, len(cfg.RUL), len(rp.units))
	}
	return rp, nil
}

// Devices returns the device ids in unit order.
func (rp *Replay) Devices() []string {
	out := make([]string, len(rp.units))
	for i, u := range rp.units {
		out[i] = fmt.Sprintf("engine-%03d", u[0].Unit)
	}
	return out
}

// Len returns the total number of readings the replay yields.
func (rp *Replay) Len() int {
	n := 0
	for _, u := range rp.units {
		n += len(u)
	}
	return n
}

// Next returns the readings of the next cycle; ok=false after the longest
// unit's last cycle.
func (rp *Replay) Next() ([]Reading, bool) {
	if rp.tick >= rp.max {
		return nil, false
	}
	rp.tick++
	rp.buf = rp.buf[:0]
	for i, u := range rp.units {
		if rp.tick <= len(u) {
			rp.buf = append(rp.buf, rp.reading(i, u[rp.tick-1]))
		}
	}
	return rp.buf, true
}

func (rp *Replay) reading(i int, row CMAPSSRow) Reading {
	u := rp.units[i]
	vals := make(map[string]float64, len(rp.names))
	for j, v := range row.Op {
		vals[rp.names[j]] = v
	}
	for j, v := range row.S {
		vals[rp.names[3+j]] = v
	}
	failCycle := len(u)
	if rp.cfg.RUL != nil {
		failCycle += rp.cfg.RUL[i]
	}
	rul := failCycle - row.Cycle
	failed := rp.cfg.RUL == nil && rul == 0
	at := func(c int) time.Time { return rp.cfg.Start.Add(time.Duration(c) * rp.cfg.Interval) }
	return Reading{
		Device: fmt.Sprintf("engine-%03d", row.Unit), Class: ClassEngine, Time: at(row.Cycle),
		Seq: uint64(row.Cycle), Values: vals,
		Truth: Truth{
			Health: min(1, float64(rul)/RULCap), Degrading: rul < RULCap && !failed, Failed: failed,
			RUL: time.Duration(rul) * rp.cfg.Interval, FailureAt: at(failCycle),
		},
	}
}
