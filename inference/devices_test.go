package inference

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testClock is an injectable engine clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: t0()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func deviceNames(e *Engine) []string {
	e.devMu.RLock()
	defer e.devMu.RUnlock()
	var names []string
	for n := range e.devices {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TestMaxDevicesEvictsLeastRecentlySeen: at the bound a new device evicts
// the least recently seen one (by the engine clock), whose window is lost.
func TestMaxDevicesEvictsLeastRecentlySeen(t *testing.T) {
	clk := newTestClock()
	e := newTestEngine(t, EngineConfig{MaxDevices: 2, Now: clk.Now})
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
	obs := func(dev string, i int) {
		t.Helper()
		clk.Add(time.Second)
		if err := e.Observe(context.Background(), reading(dev, i)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want []string, evicted float64) {
		t.Helper()
		if got := deviceNames(e); !slices.Equal(got, want) {
			t.Fatalf("devices %v, want %v", got, want)
		}
		if n := testutil.ToFloat64(e.met.evicted.WithLabelValues(evictMaxDevices)); n != evicted {
			t.Fatalf("evicted %v, want %v", n, evicted)
		}
		if n := testutil.ToFloat64(e.met.devices); n != float64(len(want)) {
			t.Fatalf("devices gauge %v, want %d", n, len(want))
		}
	}
	for i := 0; i < 9; i++ { // b: 9 of the 10 readings of a window
		obs("b", i)
	}
	obs("a", 0)
	obs("c", 0) // b is the least recently seen
	check([]string{"a", "c"}, 1)
	obs("a", 1)
	obs("b", 9) // c is now the least recently seen; b starts afresh
	check([]string{"a", "b"}, 2)
	if n := len(e.rows); n != 0 {
		t.Fatalf("%d rows queued: b's window survived its eviction", n)
	}
	for i := 10; i < 19; i++ { // 9 more: a full window again
		obs("b", i)
	}
	if n := len(e.rows); n != 1 {
		t.Fatalf("%d rows queued, want 1", n)
	}
	check([]string{"a", "b"}, 2)
}

// TestDeviceIdleEviction: Run's sweep evicts devices not seen for
// DeviceIdleTTL (engine clock) and keeps their drift sums.
func TestDeviceIdleEviction(t *testing.T) {
	clk := newTestClock()
	e := newTestEngine(t, EngineConfig{DeviceIdleTTL: time.Minute, DriftInterval: -1, Now: clk.Now})
	sweep := make(chan time.Time)
	e.newTicker = func(d time.Duration) ticker {
		if d != idleSweepInterval(time.Minute) {
			t.Errorf("ticker period %v", d)
		}
		return ticker{C: sweep, stop: func() {}}
	}
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // one row of a
		if err := e.Observe(context.Background(), reading("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(50 * time.Second)
	if err := e.Observe(context.Background(), reading("b", 0)); err != nil {
		t.Fatal(err)
	}
	before, _ := e.Drift()
	clk.Add(40 * time.Second) // a idle 90s, b 40s
	startRun(t, e)
	sweep <- clk.Now()
	waitFor(t, "a evicted", func() bool { return e.deviceCount() == 1 })
	if got := deviceNames(e); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("devices %v", got)
	}
	if n := testutil.ToFloat64(e.met.evicted.WithLabelValues(evictIdle)); n != 1 {
		t.Fatalf("idle evictions %v", n)
	}
	after, ok := e.Drift()
	if !ok || after.Rows != before.Rows || after.Features[0].Mean != before.Features[0].Mean {
		t.Fatalf("drift lost evicted device: before %+v after %+v", before, after)
	}
}

func TestMaxDevicesConfig(t *testing.T) {
	if _, err := NewEngine(EngineConfig{MaxDevices: -1}, nil, nil); err == nil {
		t.Fatal("negative max_devices accepted")
	}
	c := EngineConfig{}.withDefaults()
	if c.MaxDevices != DefaultMaxDevices || c.DeviceIdleTTL != DefaultDeviceIdleTTL {
		t.Fatalf("defaults %d %v", c.MaxDevices, c.DeviceIdleTTL)
	}
}

// BenchmarkNewDeviceAtBound measures a new device evicting the least
// recently seen one of 10,000 (a publisher inventing device ids).
func BenchmarkNewDeviceAtBound(b *testing.B) {
	e := newTestEngine(b, EngineConfig{})
	if err := e.Load(testPackage(b, "m", "1", 4)); err != nil {
		b.Fatal(err)
	}
	names := make([]string, 2*DefaultMaxDevices)
	for i := range names {
		names[i] = "dev-" + strconv.Itoa(i)
	}
	for i := range DefaultMaxDevices {
		e.device(names[i], int64(i))
	}
	i := 0
	for b.Loop() {
		e.device(names[i%len(names)], int64(DefaultMaxDevices+i))
		i++
	}
}

// TestObserveAfterEvictionRace: an Observe holding a device that is evicted
// before it locks it sees the eviction and does not write into it.
func TestObserveAfterEvictionRace(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
	m := e.cur.Load()
	d := e.device("a", 1)
	e.devMu.Lock()
	e.evict(d, evictIdle)
	e.devMu.Unlock()
	if _, _, evicted := e.window(m, d, reading("a", 0), t0()); !evicted || d.win != nil {
		t.Fatalf("evicted %v, window %v", evicted, d.win)
	}
	if err := e.Observe(context.Background(), reading("a", 0)); err != nil {
		t.Fatal(err)
	}
	if nd := e.device("a", 2); nd == d || nd.win == nil || nd.win.Len() != 1 {
		t.Fatalf("reading not in the new device state")
	}
}

// TestForget: Forget drops a device's state as an eviction with the given
// reason, counted; a later reading starts the device afresh; an unknown
// device is a no-op.
func TestForget(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := e.Observe(context.Background(), reading("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	d := e.device("a", 1)
	e.Forget("a", evictMaxDevices)
	e.Forget("nobody", evictIdle)
	if !d.evicted || d.win != nil || len(deviceNames(e)) != 0 {
		t.Fatalf("evicted %v, window %v, devices %v", d.evicted, d.win, deviceNames(e))
	}
	if n := testutil.ToFloat64(e.met.evicted.WithLabelValues(evictMaxDevices)); n != 1 {
		t.Fatalf("evictions counted %v, want 1", n)
	}
	if testutil.ToFloat64(e.met.evicted.WithLabelValues(evictIdle)) != 0 {
		t.Fatal("forgetting an unknown device was counted")
	}
}

// TestAlertCarriesDeviceFields: an alert carries the fields of the reading
// that created the device's state, even after the device was forgotten
// while its rows were queued.
func TestAlertCarriesDeviceFields(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	if err := e.Load(testPackage(t, "m", "1", 4)); err != nil {
		t.Fatal(err)
	}
	if err := e.SetThresholds(&Thresholds{Raise: 1e-6, Clear: 1e-7}); err != nil { // every score raises
		t.Fatal(err)
	}
	fields := map[string]string{"site": "berlin", "line": "3"}
	for i := range 12 {
		r := reading("a", i)
		r.Fields = fields
		if i > 0 {
			r.Fields = map[string]string{"site": "later"} // the first reading's fields stay
		}
		if err := e.Observe(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	e.Forget("a", evictIdle)
	c := startRun(t, e)
	waitFor(t, "an alert", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.alerts) > 0 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if al := c.alerts[0]; al.Device != "a" || al.State != AlertRaised || al.Fields["site"] != "berlin" || al.Fields["line"] != "3" {
		t.Fatalf("alert %+v, want device a raised with site berlin, line 3", al)
	}
}
