package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/inference/features"
)

// FD001 file names inside the -data directory.
const (
	fd001Train = "train_FD001.txt"
	fd001Test  = "test_FD001.txt"
	fd001RUL   = "RUL_FD001.txt"
)

// rulExample is one feature row of a C-MAPSS unit with its ground truth.
type rulExample struct {
	x     []float32
	unit  int
	cycle int
	rul   int     // true remaining useful life in cycles (uncapped)
	y     float64 // training target: min(rul, cap)
}

// fd001Set is one C-MAPSS file turned into feature rows.
type fd001Set struct {
	rows []rulExample // every cycle of every unit, in replay order
	last []rulExample // each unit's last cycle, in unit order
}

// readFD001 reads train_FD001.txt, test_FD001.txt and RUL_FD001.txt from dir
// and returns their sha256 digests (for the manifest's provenance).
func readFD001(dir string) (train, test []sim.CMAPSSRow, rul []int, digests map[string]string, err error) {
	digests = map[string]string{}
	read := func(name string) (*bytes.Reader, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		digests[name] = hex.EncodeToString(sum[:])
		return bytes.NewReader(b), nil
	}
	var r *bytes.Reader
	if r, err = read(fd001Train); err == nil {
		train, err = sim.ReadCMAPSS(r)
	}
	if err == nil {
		if r, err = read(fd001Test); err == nil {
			test, err = sim.ReadCMAPSS(r)
		}
	}
	if err == nil {
		if r, err = read(fd001RUL); err == nil {
			rul, err = sim.ReadRUL(r)
		}
	}
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("read fd001 from %s: %w", dir, err)
	}
	return train, test, rul, digests, nil
}

// fd001Features replays rows exactly as `firmware-sim --replay-cmapss`
// does (sim.Replay: same device ids, value names and timestamps) through a
// features.Extractor, the serving feature code, and returns one row per
// cycle of every unit. rul is nil for a training file (units run to
// failure). The window must be ready at every reading (min_samples 1, hop
// 1), as it is when served: a cycle without a row is an error.
func fd001Features(rows []sim.CMAPSSRow, rul []int, plan *features.Plan, win features.WindowConfig, rulCap int) (fd001Set, error) {
	const interval = time.Hour // any: the features do not depend on the time between cycles
	rp, err := sim.NewReplay(rows, sim.ReplayConfig{Interval: interval, RUL: rul})
	if err != nil {
		return fd001Set{}, err
	}
	x, err := features.NewExtractor(plan, win)
	if err != nil {
		return fd001Set{}, err
	}
	var set fd001Set
	last := map[string]int{} // device -> index in set.rows of its newest row
	for {
		rs, ok := rp.Next()
		if !ok {
			break
		}
		for _, r := range rs {
			row, ok, err := x.Push(r.Device, r.Time, r.Values, nil)
			if err != nil {
				return fd001Set{}, fmt.Errorf("features for %s cycle %d: %w", r.Device, r.Seq, err)
			}
			if !ok {
				return fd001Set{}, fmt.Errorf("features for %s cycle %d: no row (window %+v must score every cycle)", r.Device, r.Seq, win)
			}
			left := int(r.Truth.RUL / interval)
			unit, _ := strconv.Atoi(strings.TrimPrefix(r.Device, "engine-"))
			set.rows = append(set.rows, rulExample{x: row.Features, unit: unit, cycle: int(r.Seq), rul: left, y: float64(min(left, rulCap))})
			last[r.Device] = len(set.rows) - 1
		}
	}
	for _, d := range rp.Devices() {
		set.last = append(set.last, set.rows[last[d]])
	}
	return set, nil
}
