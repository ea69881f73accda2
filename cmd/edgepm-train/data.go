package main

import (
	"fmt"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/inference/features"
)

// dataConfig says how training data is drawn from the simulated plant.
type dataConfig struct {
	Seed     int64
	Machines int
	Days     int           // simulated days
	Every    time.Duration // simulated time between two windows of a machine
	Interval time.Duration // time between readings inside a window (as published)
	Horizon  time.Duration // label: failure within this horizon
}

// example is one feature row with its ground truth.
type example struct {
	x       []float32
	y       float64 // 1 = fails within the horizon
	machine int
	class   string
}

// generate runs the plant in bursts: jump Every, then one window of
// Interval-spaced readings per machine through a fresh features.Extractor
// (the serving feature code) so every window holds only its burst. Readings
// of failed (down) machines are excluded: their failure already happened.
func generate(dc dataConfig, plan *features.Plan, win features.WindowConfig) ([]example, error) {
	plant, err := sim.NewPlant(sim.Config{Seed: dc.Seed, Machines: dc.Machines,
		Classes: []string{sim.ClassPump, sim.ClassMotor, sim.ClassFan, sim.ClassCompressor}, Interval: dc.Interval})
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	for i, d := range plant.Devices() {
		index[d] = i
	}
	win = win.WithDefaults()
	var out []example
	var buf []sim.Reading
	end := plant.Now().Add(time.Duration(dc.Days) * 24 * time.Hour)
	for plant.Now().Before(end) {
		x, err := features.NewExtractor(plan, win)
		if err != nil {
			return nil, err
		}
		failed := map[string]bool{}
		for i := 0; i < win.Size; i++ {
			dt := dc.Interval
			if i == 0 {
				dt = dc.Every - time.Duration(win.Size-1)*dc.Interval
			}
			buf = plant.StepInto(dt, buf[:0])
			for _, r := range buf {
				failed[r.Device] = failed[r.Device] || r.Truth.Failed
				row, ok, err := x.Push(r.Device, r.Time, r.Values, nil)
				if err != nil {
					return nil, fmt.Errorf("features for %s: %w", r.Device, err)
				}
				if !ok || failed[r.Device] {
					continue
				}
				out = append(out, example{x: row.Features, y: label(r.Truth, dc.Horizon), machine: index[r.Device], class: r.Class})
			}
		}
	}
	return out, nil
}

func label(t sim.Truth, horizon time.Duration) float64 {
	if t.RUL >= 0 && t.RUL <= horizon && t.Degrading {
		return 1
	}
	return 0
}
