package ingest

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"
)

// maxStuckSensors bounds the stuck-sensor check: sensors of a device beyond
// it are not checked. Devices are bounded by the caller's device registry,
// which calls Pipeline.ForgetDevice for each device it evicts.
const maxStuckSensors = 256

// stuckTracker detects sensors that report exactly the same value again and
// again (a frozen transmitter, a wire break read as a constant): once a
// sensor repeats its value in validation.stuck_after consecutive readings of
// its device it is stuck, and the first different value recovers it. Each
// change is reported once. Only readings newer than the device's newest
// checked one count (a redelivered message is not a repeat). The readings
// themselves are still stored and scored. A device that falls silent keeps
// its stuck sensors until it reports again, the settings change or it is
// forgotten. It belongs to the Pipeline's decode goroutine; Stuck is safe
// for concurrent use.
type stuckTracker struct {
	devs   map[string]*stuckDevice
	stuck  atomic.Int64 // sensors stuck now
	after  int          // the settings the state was built with (see configure)
	ignore []string
	set    bool
}

// stuckDevice is one device's runs, sorted by sensor. Compact on purpose:
// the check keeps one per device.
type stuckDevice struct {
	last    int64 // UnixNano of the newest reading checked; older or equal ones (redeliveries, stragglers) are skipped
	checked bool  // last is set
	runs    []stuckRun
}

type stuckRun struct {
	sensor string
	value  float64
	since  int64 // UnixNano of the first reading with value
	n      int32 // consecutive readings with value
	stuck  bool
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
		for i := range d.runs {
			if r := &d.runs[i]; r.stuck {
				out = append(out, r.change(dev, false, r.value))
			}
		}
	}
	clear(t.devs)
	t.stuck.Store(0)
	return out
}

// forget drops device's runs (the caller's registry evicted it). Its stuck
// sensors leave the count without a recovered event: nothing was seen to
// recover, the device is no longer tracked.
func (t *stuckTracker) forget(device string) {
	d := t.devs[device]
	if d == nil {
		return
	}
	for i := range d.runs {
		if d.runs[i].stuck {
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
		d = &stuckDevice{runs: make([]stuckRun, 0, min(len(values), maxStuckSensors))}
		t.devs[device] = d
	}
	ns := ts.UnixNano()
	if d.checked && ns <= d.last {
		return out
	}
	d.last, d.checked = ns, true
	for sensor, v := range values {
		if !ignore[sensor] {
			out = t.observeSensor(d, device, sensor, v, ns, after, out)
		}
	}
	return out
}

// observeSensor checks one value against its sensor's run.
func (t *stuckTracker) observeSensor(d *stuckDevice, device, sensor string, v float64, ns int64, after int, out []StuckChange) []StuckChange {
	i, found := slices.BinarySearchFunc(d.runs, sensor, func(r stuckRun, s string) int { return cmp.Compare(r.sensor, s) })
	switch {
	case !found && len(d.runs) >= maxStuckSensors:
	case !found:
		d.runs = slices.Insert(d.runs, i, stuckRun{sensor: sensor, value: v, n: 1, since: ns})
	case v == d.runs[i].value:
		r := &d.runs[i]
		r.n++
		if !r.stuck && int(r.n) >= after {
			r.stuck = true
			t.stuck.Add(1)
			out = append(out, r.change(device, true, v))
		}
	default:
		r := &d.runs[i]
		if r.stuck {
			t.stuck.Add(-1)
			out = append(out, r.change(device, false, v))
		}
		*r = stuckRun{sensor: sensor, value: v, n: 1, since: ns}
	}
	return out
}

// change is the StuckChange of r's sensor becoming stuck or recovering with
// value v.
func (r *stuckRun) change(device string, stuck bool, v float64) StuckChange {
	return StuckChange{Device: device, Sensor: r.sensor, Stuck: stuck, Value: v, Readings: int(r.n), Since: time.Unix(0, r.since)}
}
