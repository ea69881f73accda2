package inference

import (
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus collectors (namespace edgepm_inference).
type metrics struct {
	readings    prometheus.Counter
	dropped     *prometheus.CounterVec // reason
	invalid     prometheus.Counter
	imputed     prometheus.Counter
	rows        prometheus.CounterFunc // reads scored
	scored      atomic.Uint64          // rows with a prediction
	batches     batchStats             // edgepm_inference_batches_total and _batch_rows
	latency     pow2Hist               // nanoseconds, exported in seconds
	scoreErrors prometheus.Counter
	loads       *prometheus.CounterVec // result: ok or a reject reason
	modelInfo   *prometheus.GaugeVec   // name, version
	alerts      *prometheus.CounterVec // state
	queue       prometheus.GaugeFunc
	queueWaits  prometheus.Counter
	driftZ      *prometheus.GaugeVec // feature
	driftRatio  *prometheus.GaugeVec // feature
	driftPSI    *prometheus.GaugeVec // feature (those with a training histogram)
	freed       prometheus.Counter
	devices     prometheus.GaugeFunc
	evicted     *prometheus.CounterVec // reason: max_devices, idle
	badOutputs  prometheus.Counter
	clockResets prometheus.Counter

	shadowScored  prometheus.Counter
	shadowDropped *prometheus.CounterVec        // reason: queue_full, input_mismatch, cleared
	shadowDrops   map[string]prometheus.Counter // shadowDropped's series by reason, looked up once
	shadowErrors  prometheus.Counter
	shadowInfo    *prometheus.GaugeVec // name, version
}

func newMetrics(reg prometheus.Registerer, queueLen, devices func() float64) (*metrics, error) {
	ns, sub := "edgepm", "inference"
	m := &metrics{
		readings: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "readings_total",
			Help: "Readings passed to Observe."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "readings_dropped_total",
			Help: "Readings not used for features, by reason (no_model, out_of_order, no_values, class_not_targeted, device_evicted)."}, []string{"reason"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "invalid_values_total",
			Help: "NaN/Inf sensor values treated as missing."}),
		imputed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "imputed_features_total",
			Help: "Features without valid samples, or not finite as float32 (NaN, Inf, beyond +-3.4e38), replaced by the training mean."}),
		scoreErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "score_errors_total",
			Help: "Rows whose ONNX Runtime run failed (not emitted)."}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "model_loads_total",
			Help: "Model load attempts by result (ok or the reject reason)."}, []string{"result"}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "model_info",
			Help: "1 for the active model."}, []string{"name", "version"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "alert_events_total",
			Help: "Alert events by state (raised, cleared)."}, []string{"state"}),
		driftZ: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "feature_drift_z",
			Help: "(serving mean - training mean) / training std, per feature, since the model loaded."}, []string{"feature"}),
		driftRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "feature_drift_std_ratio",
			Help: "serving std / training std, per feature, since the model loaded."}, []string{"feature"}),
		driftPSI: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "feature_drift_psi",
			Help: "Population stability index of the served values against the training histogram, per feature that has one, since the model loaded (edgepm counts a feature as drifting above 0.5, from 1000 rows on)."}, []string{"feature"}),
		freed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sessions_released_total",
			Help: "ONNX Runtime sessions destroyed after a swap or close."}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "devices_evicted_total",
			Help: "Devices whose state (window, alert state) was dropped, by reason (max_devices, idle)."}, []string{"reason"}),
		clockResets: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "clock_resets_total",
			Help: "Device windows restarted because a reading was older than the window by more than clock_reset_after (the device clock was set back)."}),
		badOutputs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "invalid_outputs_total",
			Help: "Rows whose model outputs were not finite (NaN or Inf); no prediction is emitted for them."}),
	}
	m.batches.init(ns, sub)
	m.shadowMetrics(ns, sub)
	m.latency.init(prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "window_to_prediction_seconds"),
		"Time from a window being ready to its prediction being emitted, sampled in one batch of 8 (its oldest row).", nil, nil),
		50_000, 14, 1e9) // 50 us .. 409.6 ms
	m.queueWaits = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "queue_waits_total",
		Help: "Rows that found the scoring queue full and waited for room (backpressure from Run)."})
	m.queue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_rows",
		Help: "Ready rows waiting to be scored."}, queueLen)
	m.rows = prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rows_scored_total",
		Help: "Feature rows scored (predictions emitted)."}, func() float64 {
		return float64(m.scored.Load())
	})
	m.devices = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "devices",
		Help: "Devices whose state the engine tracks (bounded by max_devices)."}, devices)
	for _, st := range []string{AlertRaised, AlertCleared} {
		m.alerts.WithLabelValues(st) // pre-set: rate() and dashboards see 0 before the first alert
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.clockResets, m.readings, m.dropped, m.invalid, m.imputed, m.rows, &m.batches,
		&m.latency, m.scoreErrors, m.loads, m.modelInfo, m.alerts, m.queue, m.queueWaits, m.driftZ, m.driftRatio, m.driftPSI, m.freed,
		m.devices, m.evicted, m.badOutputs, m.shadowScored, m.shadowDropped, m.shadowErrors, m.shadowInfo} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register inference metrics: %w", err)
		}
	}
	return m, nil
}

// shadowMetrics creates the shadow model's collectors (shadow.go).
func (m *metrics) shadowMetrics(ns, sub string) {
	m.shadowScored = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "shadow_rows_scored_total",
		Help: "Windows the shadow model scored (compared with the served model and emitted as shadow predictions)."})
	m.shadowDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "shadow_dropped_total",
		Help: "Windows of the served model the shadow model did not score, by reason (queue_full, input_mismatch, cleared)."}, []string{"reason"})
	m.shadowErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "shadow_score_errors_total",
		Help: "Windows the shadow model failed to score (ONNX Runtime error or non-finite output); served predictions are not affected."})
	m.shadowInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "shadow_model_info",
		Help: "1 for the shadow model scored next to the served one; absent when none."}, []string{"name", "version"})
	m.shadowDrops = make(map[string]prometheus.Counter, 3)
	for _, r := range []string{shadowQueueFull, shadowInputMismatch, shadowCleared} {
		m.shadowDrops[r] = m.shadowDropped.WithLabelValues(r) // pre-set: rate() sees 0 before the first drop
	}
}

// pow2Hist is a histogram with buckets start, 2*start, 4*start, ... (n
// finite ones, n <= maxPow2Buckets) of non-negative integer observations,
// kept with two atomic adds per observation and no division (a
// client_golang histogram costs several times that, which shows on the
// scoring path at batch 1) and exported at scrape time with each bound and
// the sum divided by div. Safe for concurrent use.
type pow2Hist struct {
	sum     atomic.Uint64
	buckets [maxPow2Buckets + 1]atomic.Uint64 // bucket i counts start*2^(i-1) < v <= start*2^i; bucket n, the rest
	start   uint64
	shift   int // bits.Len64(start)
	n       int
	div     float64
	desc    *prometheus.Desc
}

const maxPow2Buckets = 15

// init sets h up for buckets start (> 0), 2*start, ... (n of them, at most
// maxPow2Buckets; start<<n must fit in 64 bits).
func (h *pow2Hist) init(desc *prometheus.Desc, start uint64, n int, div float64) {
	h.start, h.shift, h.n, h.div, h.desc = start, bits.Len64(start), min(n, maxPow2Buckets), div, desc
}

// bucket returns the index of v's bucket: the least i < n with v <=
// start<<i, else n. With L = bits.Len64(v-1) and s = bits.Len64(start),
// start<<(L-s+1) >= 2^L > v-1 and start<<(L-s-1) < 2^(L-1) <= v-1, so i is
// L-s or L-s+1 (at least 0): one comparison decides.
func (h *pow2Hist) bucket(v uint64) int {
	if v == 0 {
		return 0
	}
	i := max(bits.Len64(v-1)-h.shift, 0)
	if i < h.n && h.start<<i < v {
		i++
	}
	return min(i, h.n)
}

func (h *pow2Hist) observe(v uint64) {
	h.sum.Add(v)
	h.buckets[h.bucket(v)].Add(1)
}

// count returns the observations recorded.
func (h *pow2Hist) count() uint64 {
	var c uint64
	for i := range h.n + 1 {
		c += h.buckets[i].Load()
	}
	return c
}

func (h *pow2Hist) metric() prometheus.Metric {
	n := h.n
	cum := make(map[float64]uint64, n)
	var c uint64
	for i := range n {
		c += h.buckets[i].Load()
		cum[float64(h.start<<i)/h.div] = c
	}
	c += h.buckets[n].Load()
	return prometheus.MustNewConstHistogram(h.desc, c, float64(h.sum.Load())/h.div, cum)
}

func (h *pow2Hist) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }
func (h *pow2Hist) Collect(ch chan<- prometheus.Metric) { ch <- h.metric() }

// batchStats counts ONNX Runtime runs and their rows: the
// edgepm_inference_batch_rows histogram (buckets 1, 2, 4, ... 2048) and,
// from the same counts, edgepm_inference_batches_total.
type batchStats struct {
	pow2Hist
	runs *prometheus.Desc
}

func (b *batchStats) init(ns, sub string) {
	b.pow2Hist.init(prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "batch_rows"), "Rows per ONNX Runtime run.", nil, nil), 1, 12, 1)
	b.runs = prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "batches_total"), "ONNX Runtime runs.", nil, nil)
}

// observe records one run of n rows.
func (b *batchStats) observe(n int) { b.pow2Hist.observe(uint64(n)) }

func (b *batchStats) Describe(ch chan<- *prometheus.Desc) { ch <- b.runs; ch <- b.desc }

func (b *batchStats) Collect(ch chan<- prometheus.Metric) {
	m := b.metric()
	ch <- prometheus.MustNewConstMetric(b.runs, prometheus.CounterValue, float64(b.count()))
	ch <- m
}
