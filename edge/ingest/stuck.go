package ingest

import (
	"slices"
	"sync/atomic"
	"time"
)

// maxStuckSensors bounds the stuck-sensor check: sensors of a device beyond
// it are not checked. Devices are bounded by the device table, which calls
// forget for each device it evicts.
const maxStuckSensors = 256

// stuckTracker detects sensors that report exactly the same value again and
// again (a frozen transmitter, a wire break read as a constant): once a
// sensor repeats its value in validation.stuck_after consecutive readings of
// its device it is stuck, and the first different value recovers it. Each
// change is reported once. Only readings newer than the device's newest
// checked one count (a redelivered message is not a repeat). The readings
// themselves are still stored and scored. A device that falls silent keeps
// its stuck sensors until it reports again or the settings change. It
// belongs to the Pipeline's decode goroutine; Stuck is safe for concurrent
// use.
type stuckTracker struct {
	devs   map[string]*stuckDevice
	stuck  atomic.Int64 // sensors stuck now
	after  int          // the settings the state was built with (see configure)
	ignore []string
	set    bool
}

type stuckDevice struct {
	last time.Time // newest reading checked; older or equal ones (redeliveries, stragglers) are skipped
	runs map[string]*stuckRun
}

type stuckRun struct {
	value float64
	n     int       // consecutive readings with value
	since time.Time // reading time of the first of them
	stuck bool
}

// StuckChange is a sensor becoming stuck or recovering.
type StuckChange struct {
	Device, Sensor string
	Stuck          bool
	Value          float64   // the repeated value (stuck) or the new one (recovered)
	Readings       int       // consecutive readings with the repeated value
	Since          time.Time // when the repetition began
	At             time.Time // when it was noticed: the reading's receive time, or the batch's for a settings change
}

func newStuckTracker() *stuckTracker {
	return &stuckTracker{devs: map[string]*stuckDevice{}}
}

// configure is called with the current settings before each batch. When
// they changed (a reload), every stuck sensor is reported recovered and the
// check starts afresh, so a sensor newly ignored or a check switched off
// does not stay stuck for ever.
func (t *stuckTracker) configure(after int, ignore []string) []StuckChange {
	if t.set && after == t.after && slices.Equal(ignore, t.ignore) {
		return nil
	}
	t.after, t.ignore, t.set = after, slices.Clone(ignore), true
	var out []StuckChange
	for dev, d := range t.devs {
		for sensor, r := range d.runs {
			if r.stuck {
				out = append(out, StuckChange{Device: dev, Sensor: sensor, Value: r.value, Readings: r.n, Since: r.since})
			}
		}
	}
	clear(t.devs)
	t.stuck.Store(0)
	return out
}

// forget drops device's runs (the device table evicted it). Its stuck
// sensors leave the count without a recovered event: nothing was seen to
// recover, the device is no longer tracked.
func (t *stuckTracker) forget(device string) {
	d := t.devs[device]
	if d == nil {
		return
	}
	for _, r := range d.runs {
		if r.stuck {
			t.stuck.Add(-1)
		}
	}
	delete(t.devs, device)
}

// Stuck returns the number of sensors stuck now.
func (t *stuckTracker) Stuck() int64 { return t.stuck.Load() }

// observe checks one reading's values against the device's runs and
// appends the changes to out. after < 2 disables the check.
func (t *stuckTracker) observe(device string, ts time.Time, values map[string]float64, after int, ignore map[string]bool,
	out []StuckChange) []StuckChange {
	if after < 2 {
		return out
	}
	d := t.devs[device]
	if d == nil {
		d = &stuckDevice{runs: map[string]*stuckRun{}}
		t.devs[device] = d
	}
	if !ts.After(d.last) && !d.last.IsZero() {
		return out
	}
	d.last = ts
	for sensor, v := range values {
		if ignore[sensor] {
			continue
		}
		r := d.runs[sensor]
		switch {
		case r == nil && len(d.runs) >= maxStuckSensors:
		case r == nil:
			d.runs[sensor] = &stuckRun{value: v, n: 1, since: ts}
		case v == r.value:
			r.n++
			if !r.stuck && r.n >= after {
				r.stuck = true
				t.stuck.Add(1)
				out = append(out, StuckChange{Device: device, Sensor: sensor, Stuck: true, Value: v, Readings: r.n, Since: r.since})
			}
		default:
			if r.stuck {
				t.stuck.Add(-1)
				out = append(out, StuckChange{Device: device, Sensor: sensor, Value: v, Readings: r.n, Since: r.since})
			}
			*r = stuckRun{value: v, n: 1, since: ts}
		}
	}
	return out
}
