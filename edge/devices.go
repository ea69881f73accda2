package edge

import (
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/internal/devices"
)

// deviceTable is the appliance's one registry of devices
// (internal/devices): it holds each device's status (latest reading time,
// score, alert, stuck sensors) and decides which devices the appliance keeps
// state for at all. At most inference.max_devices devices are kept; a new
// device at the bound evicts the least recently seen one, and a device not
// seen for inference.device_idle_ttl is evicted when the next reading (of
// any device) arrives. Evictions are counted in
// edgepm_devices_evicted_total{reason}.
//
// Invariant: the inference engine holds no device the table does not, and
// the stuck-sensor check none but the table's and those of the batch being
// prepared: prepare calls seen before Observe, and forget (the registry's
// OnEvict: App.forgetDevice) drops an evicted device from both,
// synchronously, on the pipeline's decode goroutine, which also runs the
// stuck check. So the engine's own bound and idle sweep never fire; the
// table's are the only ones.
//
// The table also follows each device's payload seq counter
// (ingest.SeqTracker) to count readings lost upstream; that state is part
// of the device's entry, so it is evicted with it (a device evicted with
// losses not yet reported has them reported by the next dueLoss).
//
// Concurrency: seen (which may evict, and so call forget) and setStuck are
// called on the decode goroutine only (prepare); scored and alert on
// inference's Run goroutine; snapshot, len, evicted, lossTotals and dueLoss
// from any. Only seen creates a device. Lock order: mu, then whatever forget takes (the
// engine's device locks); nothing takes mu while holding those.
type deviceTable struct {
	mu      sync.Mutex
	reg     *devices.Registry[deviceState]
	totals  lossCounts          // every device's, evicted ones included; mu
	pending map[string]struct{} // devices with losses not yet in an event; mu
	orphans []lossEvent         // evicted devices' unreported losses; mu

	duplicates atomic.Uint64 // readings whose seq was seen before
	lastLoss   atomic.Int64  // UnixNano of the last gap or reset (0: none)
}

// deviceState is one device's status. Small on purpose: it is paid for
// every device the gateway keeps.
type deviceState struct {
	lastSeen int64 // UnixNano of the newest reading's own time
	score    float64
	scored   bool
	alert    bool
	alertAt  int64        // UnixNano (the window's time) of the raise while alert
	stuck    []string     // sensors stuck now
	recent   recentScores // the sparkline of /api/history
	seq      ingest.SeqTracker
	loss     *seqLoss // nil until the first gap or reset
	offline  bool     // a Sparkplug death was its last birth or death
}

// sparkLen is how many of a device's latest scores the status page's
// sparkline shows: 60 float32 and two bytes of cursor, 242 bytes in the
// device's entry (so inference.max_devices bounds them too); TestHeapPerDevice
// measured +257 B per device (docs/benchmarks.md).
const sparkLen = 60

// recentScores is a device's last sparkLen scores, a fixed ring.
type recentScores struct {
	v       [sparkLen]float32
	next, n uint8
}

func (r *recentScores) push(s float64) {
	r.v[r.next] = float32(s)
	r.next = (r.next + 1) % sparkLen
	r.n = min(r.n+1, sparkLen)
}

// list returns the scores, oldest first.
func (r *recentScores) list() []float64 {
	out := make([]float64, 0, r.n)
	start := (int(r.next) - int(r.n) + sparkLen) % sparkLen
	for i := range int(r.n) {
		out = append(out, float64(r.v[(start+i)%sparkLen]))
	}
	return out
}

// newDeviceTable returns a table of at most max devices that evicts devices
// idle for idleTTL (< 0: never) and calls forget for each device it evicts.
func newDeviceTable(max int, idleTTL time.Duration, forget func(device string, why devices.Reason)) *deviceTable {
	t := &deviceTable{pending: map[string]struct{}{}}
	// Called inside Touch, so with mu held.
	t.reg = devices.New(max, idleTTL, func(name string, d *deviceState, why devices.Reason) {
		if d.loss != nil && d.loss.pending() {
			t.orphans = append(t.orphans, d.loss.take(name, 0))
		}
		delete(t.pending, name)
		if forget != nil {
			forget(name, why)
		}
	})
	return t
}

// seen records reading r of its device (its own time, and its receive
// time as the registry's recency and idleness clock) and follows the
// device's seq counter. When the reading shows a loss and the device's
// last ingest.upstream_loss event is lossEventEvery old, it returns the
// event due (due true). Ingest goroutine.
func (t *deviceTable) seen(r *ingest.Reading) (ev lossEvent, due bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, _ := t.reg.Touch(r.Device, r.Received)
	if ns := r.Time.UnixNano(); ns > d.lastSeen {
		d.lastSeen = ns
	}
	res := d.seq.Observe(r)
	switch {
	case res.Duplicate:
		t.duplicates.Add(1)
		return ev, false
	case res.Missing == 0 && !res.Reset:
		return ev, false
	}
	now := r.Received.UnixNano()
	t.lastLoss.Store(now)
	t.totals.add(res)
	if d.loss == nil {
		d.loss = &seqLoss{}
	}
	d.loss.total.add(res)
	d.loss.pend.add(res)
	if d.loss.pendSince == 0 {
		d.loss.pendSince = now
	}
	if d.loss.lastEvent != 0 && now-d.loss.lastEvent < int64(lossEventEvery) {
		t.pending[r.Device] = struct{}{}
		return ev, false
	}
	delete(t.pending, r.Device)
	return d.loss.take(r.Device, now), true
}

// dueLoss returns the events due at now: pending losses of devices whose
// last event is lossEventEvery old (all pending ones when all), and those
// of evicted devices.
func (t *deviceTable) dueLoss(now time.Time, all bool) []lossEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	evs := t.orphans
	t.orphans = nil
	ns := now.UnixNano()
	for name := range t.pending {
		d := t.reg.Get(name)
		if d == nil || d.loss == nil || !d.loss.pending() {
			delete(t.pending, name)
			continue
		}
		if all || ns-d.loss.lastEvent >= int64(lossEventEvery) {
			evs = append(evs, d.loss.take(name, ns))
			delete(t.pending, name)
		}
	}
	return evs
}

// lossTotals returns every device's gaps, missing readings and resets.
func (t *deviceTable) lossTotals() lossCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.totals
}

// setStuck records that a device's sensor became stuck or recovered.
func (t *deviceTable) setStuck(device, sensor string, stuck bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.reg.Get(device)
	if d == nil {
		return
	}
	d.stuck = slices.DeleteFunc(d.stuck, func(s string) bool { return s == sensor })
	if stuck {
		d.stuck = append(d.stuck, sensor)
		slices.Sort(d.stuck)
	}
}

// setOffline records a Sparkplug device's death (offline) or birth. A
// device without readings yet is not in the table and is left out.
func (t *deviceTable) setOffline(device string, offline bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d := t.reg.Get(device); d != nil {
		d.offline = offline
	}
}

// scored records each device's latest score from a scored batch.
func (t *deviceTable) scored(b *inference.Batch) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range b.Len() {
		if d, s := t.reg.Get(b.Device(i)), b.Score(i); d != nil && !math.IsNaN(s) && !math.IsInf(s, 0) {
			d.score, d.scored = s, true
			d.recent.push(s)
		}
	}
}

func (t *deviceTable) alert(al *inference.AlertEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d := t.reg.Get(al.Device); d != nil {
		d.alert = al.State == inference.AlertRaised
		d.alertAt = 0
		if d.alert {
			d.alertAt = al.Time.UnixNano()
		}
	}
}

// len returns the number of devices kept.
func (t *deviceTable) len() int { return t.reg.Len() }

// evicted returns how many devices were evicted for why.
func (t *deviceTable) evicted(why devices.Reason) uint64 { return t.reg.Evicted(why) }

func (t *deviceTable) snapshot() ([]DeviceStatus, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]DeviceStatus, 0, t.reg.Len())
	active := 0
	t.reg.Each(func(name string, d *deviceState) bool {
		ds := DeviceStatus{Device: name, LastSeen: time.Unix(0, d.lastSeen), Alert: d.alert, Stuck: slices.Clone(d.stuck), Offline: d.offline}
		if ds.Stuck == nil {
			ds.Stuck = []string{}
		}
		if d.alert {
			at := time.Unix(0, d.alertAt)
			ds.AlertSince = &at
		}
		if l := d.loss; l != nil {
			ds.SeqGaps, ds.SeqMissing, ds.SeqResets = l.total.gaps, l.total.missing, l.total.resets
		}
		if d.scored {
			s := d.score
			ds.Score = &s
		}
		if d.alert {
			active++
		}
		out = append(out, ds)
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, active
}

// DeviceScores is one device's latest scores, oldest first (/api/history).
type DeviceScores struct {
	Device string    `json:"device"`
	Scores []float64 `json:"scores"`
}

// sparklines returns every device's latest scores, sorted by device.
func (t *deviceTable) sparklines() []DeviceScores {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]DeviceScores, 0, t.reg.Len())
	t.reg.Each(func(name string, d *deviceState) bool {
		out = append(out, DeviceScores{Device: name, Scores: d.recent.list()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// collectors returns the table's metrics: edgepm_devices (devices kept),
// edgepm_devices_evicted_total{reason} and the seq counters' (lossCollectors).
func (t *deviceTable) collectors() []prometheus.Collector {
	cs := []prometheus.Collector{prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgepm_devices",
		Help: "Devices the gateway keeps state for (bounded by inference.max_devices)."},
		func() float64 { return float64(t.len()) })}
	for _, why := range devices.Reasons {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "edgepm_devices_evicted_total",
			Help:        "Devices whose state (status, stuck-sensor check, inference window and alert state) was dropped, by reason (max_devices, idle).",
			ConstLabels: prometheus.Labels{"reason": string(why)}},
			func() float64 { return float64(t.evicted(why)) }))
	}
	return append(cs, t.lossCollectors()...)
}
