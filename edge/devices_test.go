package edge

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/internal/devices"
	"github.com/edgepm/edgepm/internal/testenv"
)

// deviceApp is the part of an App that keeps per-device state (device
// table, the ingest pipeline's stuck-sensor check, inference engine with
// the embedded default model), wired as New wires it, with prepare as the
// pipeline's Sink (its buffer commit left out) and inference's Run calling
// emit.
func deviceApp(tb testing.TB, maxDevices int, emit func(*inference.Batch)) *App {
	tb.Helper()
	cfg, err := Parse(fmt.Appendf(nil, `gateway_id: gw
mqtt:
  broker: tcp://127.0.0.1:1
  subscriptions: [{topic: "plant/{site}/{line}/{device}/telemetry"}]
kafka: {brokers: [127.0.0.1:1]}
validation: {stuck_after: 5}
inference: {onnxruntime_lib: %s, max_devices: %d, device_idle_ttl: 1h}
`, testenv.ONNXRuntimeLib(tb), maxDevices))
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	a := &App{cfg: cfg, log: log, reg: prometheus.NewRegistry(), m: newMetrics(nil, func() float64 { return 0 }, func() float64 { return 0 })}
	if a.policy, err = cfg.Inference.policy(); err != nil {
		tb.Fatal(err)
	}
	if a.engine, err = newEngine(cfg, a.policy, nil, log, a.reg, nil, nil); err != nil {
		tb.Fatal(err)
	}
	a.devices = newDeviceTable(cfg.Inference.MaxDevices, cfg.Inference.DeviceIdleTTL, a.forgetDevice)
	sink := func(b *ingest.Batch) func() error { a.prepare(b); return func() error { return nil } }
	if a.pipeline, err = ingest.NewPipeline(cfg.MQTT.Subscriptions, cfg.Validation, sink, log); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.engine.Run(ctx, emit) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
		if err := a.engine.Close(); err != nil {
			tb.Error(err)
		}
	})
	return a
}

// ingestForTest passes msgs through the ingest pipeline and prepare, as
// Run does, and returns when they are all handled.
func (a *App) ingestForTest(msgs []*ingest.Message) {
	ch := make(chan *ingest.Message, len(msgs))
	for _, m := range msgs {
		ch <- m
	}
	close(ch)
	a.pipeline.Run(ch)
}

var testTemplate, _ = ingest.ParseTopicTemplate("plant/{site}/{line}/{device}/telemetry")

// testMessage is reading k of device i of the default model's sensors, on
// topic plant/s<i>/l<i>/pump-<i>/telemetry, received at its own time plus
// late.
func testMessage(i, k int, late time.Duration) *ingest.Message {
	ts := time.Now().Add(-time.Hour).Add(time.Duration(k) * time.Second)
	payload := fmt.Sprintf(`{"ts":%d,"values":{"vibration_rms":%.1f,"vibration_kurtosis":3.1,"bearing_temp_c":60,"current_a":40,"speed_rpm":%d}}`,
		ts.UnixMilli(), 2+float64(k%7)*0.1, 2900+k+i%7)
	return &ingest.Message{Topic: fmt.Sprintf("plant/s%d/l%d/pump-%d/telemetry", i, i, i), Payload: []byte(payload), QoS: 1,
		Template: testTemplate, Received: ts.Add(late)}
}

// windows returns the messages of n devices (from first) sending k
// readings each, device after device.
func windows(first, n, k int) []*ingest.Message {
	var msgs []*ingest.Message
	for i := first; i < first+n; i++ {
		for j := range k {
			msgs = append(msgs, testMessage(i, j, 0))
		}
	}
	return msgs
}

// TestAlertsKeepFieldsBeyondMaxDevices: with more devices than
// inference.max_devices, every device's alert topic still has its {site}
// and {line} (the alert carries its reading's fields), the table holds at
// most the bound, and every eviction is counted.
func TestAlertsKeepFieldsBeyondMaxDevices(t *testing.T) {
	const bound, n = 3, 10
	topics := make(chan string, 1024)
	a := deviceApp(t, bound, func(b *inference.Batch) {
		for i := range b.Alerts {
			if b.Alerts[i].State == inference.AlertRaised {
				topics <- ingest.Expand("plant/{site}/{line}/{device}/alerts", alertFields(&b.Alerts[i], "gw"))
			}
		}
	})
	if err := a.engine.SetThresholds(&inference.Thresholds{Raise: 0, Clear: 0}); err != nil { // every score raises
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("plant/s%d/l%d/pump-%d/alerts", i, i, i))
	}
	a.ingestForTest(windows(0, n, 30)) // one default-model window per device
	seen := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for len(seen) < n {
		select {
		case tp := <-topics:
			seen[tp] = true
		case <-timeout:
			t.Fatalf("alerts of %d devices after 30s, want %d: %v", len(seen), n, seen)
		}
	}
	var got []string
	for tp := range seen {
		got = append(got, tp)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("alert topics %v, want %v", got, want)
	}
	if a.devices.len() != bound || a.devices.evicted(devices.ReasonMaxDevices) != n-bound {
		t.Fatalf("%d devices held, %d evicted; want %d and %d", a.devices.len(), a.devices.evicted(devices.ReasonMaxDevices), bound, n-bound)
	}
}

// TestIdleDeviceForgottenEverywhere: a device idle for device_idle_ttl is
// evicted by the next reading and dropped from inference and the stuck
// check too.
func TestIdleDeviceForgottenEverywhere(t *testing.T) {
	a := deviceApp(t, 10, func(*inference.Batch) {})
	var msgs []*ingest.Message
	for k := range 6 { // pump-1's vibration_kurtosis is stuck after 5
		msgs = append(msgs, testMessage(1, k, 0))
	}
	a.ingestForTest(msgs)
	if a.pipeline.StuckSensors() != 3 { // vibration_kurtosis, bearing_temp_c, current_a
		t.Fatalf("%d sensors stuck, want 3", a.pipeline.StuckSensors())
	}
	a.ingestForTest([]*ingest.Message{testMessage(2, 0, 2*time.Hour)})
	st, _ := a.devices.snapshot()
	if len(st) != 1 || st[0].Device != "pump-2" || a.devices.evicted(devices.ReasonIdle) != 1 {
		t.Fatalf("devices %+v, %d evicted idle", st, a.devices.evicted(devices.ReasonIdle))
	}
	if a.pipeline.StuckSensors() != 0 {
		t.Fatalf("%d sensors stuck after the device was evicted: the stuck check still holds it", a.pipeline.StuckSensors())
	}
	if n := counterValue(t, a.reg, "edgepm_inference_devices_evicted_total", "idle"); n != 1 {
		t.Fatalf("inference counted %v idle evictions, want 1: it did not forget the device", n)
	}
}

// counterValue returns the value of metric name with label reason=reason
// in reg (0 when absent).
func counterValue(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == name && l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// devMemSamples is the bytes of samples a full default-model window holds
// (30 readings of 5 sensors as float64).
const devMemSamples = 30 * 5 * 8

// heapPerDevice feeds n devices 30 readings each (a full default-model
// window, each device on its own topic) through the ingest pipeline,
// prepare and inference, and returns the live heap each device added,
// after GC (the messages themselves are made, and dropped, in batches).
// It includes the pipeline's topic cache (bounded at 16,384 topics).
func heapPerDevice(tb testing.TB, n int) float64 {
	a := deviceApp(tb, n, func(*inference.Batch) {})
	a.ingestForTest(windows(0, 1, 30)) // warm: pools, first allocations
	before := liveHeap()
	for k := range 30 {
		for first := 0; first < n; first += 10_000 {
			msgs := make([]*ingest.Message, 0, 10_000)
			for i := first; i < min(first+10_000, n); i++ {
				msgs = append(msgs, testMessage(i, k, 0))
			}
			a.ingestForTest(msgs)
		}
	}
	after := liveHeap()
	runtime.KeepAlive(a)
	return float64(after-before) / float64(n)
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// maxBytesPerDevice is the target of issue 15: at most 4 KB per device
// beyond its window's samples.
const maxBytesPerDevice = 4096

// TestHeapPerDevice: 10,000 devices cost at most maxBytesPerDevice each
// beyond their samples (live heap after GC: a size, not a speed).
func TestHeapPerDevice(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("feeds 300,000 readings")
	}
	per := heapPerDevice(t, 10_000)
	t.Logf("%.0f B/device (%.0f beyond the samples)", per, per-devMemSamples)
	if per-devMemSamples > maxBytesPerDevice {
		t.Fatalf("%.0f B/device beyond the window's samples, want at most %d", per-devMemSamples, maxBytesPerDevice)
	}
}

// BenchmarkDeviceMemory reports the live heap per device at 10,000 and
// 100,000 devices: go test -run XXX -bench DeviceMemory -benchtime 1x ./edge
func BenchmarkDeviceMemory(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = heapPerDevice(b, n)
			}
			b.ReportMetric(per, "B/device")
			b.ReportMetric(per-devMemSamples, "B/device-beyond-samples")
		})
	}
}
