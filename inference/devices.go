package inference

import (
	"cmp"
	"slices"
	"time"
)

// Device state is bounded: at most MaxDevices devices are tracked, a new
// device at the bound evicts the least recently seen one, and Run sweeps out
// devices idle for DeviceIdleTTL. "Seen" is the engine clock at Observe.
//
// Finding the least recently seen device without a shared lock on every
// Observe: each device records when it was seen in an atomic; at the bound,
// the first eviction sorts a snapshot of all devices by that time and later
// evictions pop from it, skipping devices seen again since the snapshot (a
// changed time) or already gone. A device seen since the snapshot is newer
// than every unchanged entry, and devices added since are newer still, so
// the first unchanged entry is the least recently seen device: LRU exact to
// seenResolution (with a clock that does not step back), O(log n) amortised
// per eviction.

// Eviction reasons (label of edgepm_inference_devices_evicted_total).
const (
	evictMaxDevices = "max_devices"
	evictIdle       = "idle"
)

// lruEntry is a device and when it was seen at snapshot time.
type lruEntry struct {
	d    *device
	seen int64
}

// device returns name's state, creating it (and evicting at the bound) if
// needed, and records now as its last-seen time.
func (e *Engine) device(name string, now int64) *device {
	return e.deviceFor(&Reading{Device: name}, now)
}

// deviceFor is device for r's device; a device it creates keeps r.Fields.
func (e *Engine) deviceFor(r *Reading, now int64) *device {
	e.devMu.RLock()
	d := e.devices[r.Device]
	e.devMu.RUnlock()
	if d == nil {
		d = e.addDevice(r.Device, r.Fields, now)
	}
	if now-d.seen.Load() >= seenResolution { // skip the atomic store for bursts
		d.seen.Store(now)
	}
	return d
}

// seenResolution is the granularity of a device's last-seen time: the LRU
// order among devices seen within it of each other is arbitrary.
const seenResolution = int64(time.Millisecond)

func (e *Engine) addDevice(name string, fields map[string]string, now int64) *device {
	e.devMu.Lock()
	defer e.devMu.Unlock()
	if d := e.devices[name]; d != nil {
		return d
	}
	for len(e.devices) >= e.cfg.MaxDevices {
		e.evictLRU()
	}
	d := &device{name: name, fields: fields, slot: int32(len(e.devices))}
	if n := len(e.freeSlots); n > 0 {
		d.slot = e.freeSlots[n-1]
		e.freeSlots = e.freeSlots[:n-1]
	}
	d.seen.Store(now)
	e.devices[name] = d
	return d
}

// evictLRU evicts the least recently seen device. devMu must be held.
func (e *Engine) evictLRU() {
	for {
		if len(e.lru) == 0 {
			e.snapshotLRU()
		}
		c := e.lru[0]
		e.lru[0] = lruEntry{}
		e.lru = e.lru[1:]
		if e.devices[c.d.name] == c.d && c.d.seen.Load() == c.seen {
			e.evict(c.d, evictMaxDevices)
			return
		}
	}
}

// snapshotLRU sorts the tracked devices by last-seen time. devMu must be held.
func (e *Engine) snapshotLRU() {
	lru := e.lru[:0]
	for _, d := range e.devices {
		lru = append(lru, lruEntry{d: d, seen: d.seen.Load()})
	}
	slices.SortFunc(lru, func(a, b lruEntry) int { return cmp.Compare(a.seen, b.seen) })
	e.lru = lru
}

// evictIdle evicts devices not seen since now-DeviceIdleTTL.
func (e *Engine) evictIdle(now time.Time) {
	if e.cfg.DeviceIdleTTL < 0 {
		return
	}
	cutoff := now.Add(-e.cfg.DeviceIdleTTL).UnixNano()
	e.devMu.Lock()
	defer e.devMu.Unlock()
	n := 0
	for _, d := range e.devices {
		if d.seen.Load() < cutoff {
			e.evict(d, evictIdle)
			n++
		}
	}
	if n > 0 {
		clear(e.lru) // drop references to evicted devices; rebuilt on demand
		e.lru = e.lru[:0]
		e.log.Info("evicted idle devices", "devices", n, "idle_ttl", e.cfg.DeviceIdleTTL)
	}
}

// evict forgets d. devMu must be held. A concurrent Observe that already
// holds d sees d.evicted and looks the device up again; rows of d still
// queued are scored normally. Its rows stay in the drift sums (they are the
// model's, not the device's).
func (e *Engine) evict(d *device, reason string) {
	delete(e.devices, d.name)
	e.freeSlots = append(e.freeSlots, d.slot)
	d.mu.Lock()
	d.evicted = true
	d.win, d.winModel = nil, nil
	d.mu.Unlock()
	e.met.evicted.WithLabelValues(reason).Inc()
}

// Forget drops device's state (window, alert state) as an eviction for
// reason, counted in
// edgepm_inference_devices_evicted_total{reason}; reason is "max_devices" or
// "idle". It is how a registry that bounds the caller's devices (edge's)
// makes the engine drop the devices it evicts, so that the engine never
// holds a device the registry does not; the engine's own bound and idle
// sweep then never fire. Rows of the device already queued are scored
// normally (their alerts carry the device's fields). Safe for concurrent
// use; a no-op for an unknown device.
func (e *Engine) Forget(device, reason string) {
	e.devMu.Lock()
	defer e.devMu.Unlock()
	if d := e.devices[device]; d != nil {
		e.evict(d, reason)
	}
}

// idleSweepEvery is Run's idle-device sweep period (<0: no sweep).
func (e *Engine) idleSweepEvery() time.Duration {
	if e.cfg.DeviceIdleTTL < 0 {
		return -1
	}
	return idleSweepInterval(e.cfg.DeviceIdleTTL)
}

// idleSweepInterval is how often Run evicts idle devices.
func idleSweepInterval(ttl time.Duration) time.Duration {
	return min(max(ttl/4, time.Second), 10*time.Minute)
}

// deviceCount returns the number of tracked devices.
func (e *Engine) deviceCount() int {
	e.devMu.RLock()
	defer e.devMu.RUnlock()
	return len(e.devices)
}
