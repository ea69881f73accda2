package edge

import (
	"sync/atomic"
	"time"
)

// maxStuckDevices bounds the devices the stuck-sensor check follows;
// readings of further devices are not checked.
const maxStuckDevices = 10000

// stuckTracker detects sensors that report exactly the same value again and
// again (a frozen transmitter, a wire break read as a constant): once a
// sensor repeats its value in validation.stuck_after consecutive readings of
// its device it is stuck, and the first different value recovers it. Each
// change is reported once. The readings themselves are still stored and
// scored. It belongs to ingestLoop's goroutine; Stuck is safe for
// concurrent use.
type stuckTracker struct {
	devs  map[string]map[string]*stuckRun
	stuck atomic.Int64 // sensors stuck now
}

type stuckRun struct {
	value float64
	n     int       // consecutive readings with value
	since time.Time // reading time of the first of them
	stuck bool
}

// stuckChange is a sensor becoming stuck or recovering.
type stuckChange struct {
	device, sensor string
	stuck          bool
	value          float64   // the repeated value (stuck) or the new one (recovered)
	readings       int       // consecutive readings with the repeated value
	since          time.Time // when the repetition began
}

func newStuckTracker() *stuckTracker {
	return &stuckTracker{devs: map[string]map[string]*stuckRun{}}
}

// Stuck returns the number of sensors stuck now.
func (t *stuckTracker) Stuck() int64 { return t.stuck.Load() }

// observe checks one reading's values against the device's runs and
// appends the changes to out. after < 2 disables the check.
func (t *stuckTracker) observe(device string, ts time.Time, values map[string]float64, after int, ignore map[string]bool,
	out []stuckChange) []stuckChange {
	if after < 2 {
		return out
	}
	runs := t.devs[device]
	if runs == nil {
		if len(t.devs) >= maxStuckDevices {
			return out
		}
		runs = map[string]*stuckRun{}
		t.devs[device] = runs
	}
	for sensor, v := range values {
		if ignore[sensor] {
			continue
		}
		r := runs[sensor]
		switch {
		case r == nil:
			runs[sensor] = &stuckRun{value: v, n: 1, since: ts}
		case v == r.value:
			r.n++
			if !r.stuck && r.n >= after {
				r.stuck = true
				t.stuck.Add(1)
				out = append(out, stuckChange{device: device, sensor: sensor, stuck: true, value: v, readings: r.n, since: r.since})
			}
		default:
			if r.stuck {
				t.stuck.Add(-1)
				out = append(out, stuckChange{device: device, sensor: sensor, value: v, readings: r.n, since: r.since})
			}
			*r = stuckRun{value: v, n: 1, since: ts}
		}
	}
	return out
}
