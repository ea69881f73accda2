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
	rows        prometheus.Counter
	batches     *batchStats // edgepm_inference_batches_total and _batch_rows
	latency     prometheus.Histogram
	scoreErrors prometheus.Counter
	loads       *prometheus.CounterVec // result: ok or a reject reason
	modelInfo   *prometheus.GaugeVec   // name, version
	alerts      *prometheus.CounterVec // state
	queue       prometheus.GaugeFunc
	driftZ      *prometheus.GaugeVec // feature
	driftRatio  *prometheus.GaugeVec // feature
	freed       prometheus.Counter
	devices     prometheus.GaugeFunc
	evicted     *prometheus.CounterVec // reason: max_devices, idle
	badOutputs  prometheus.Counter
	clockResets prometheus.Counter
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
		rows: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rows_scored_total",
			Help: "Feature rows scored (predictions emitted)."}),
		batches: newBatchStats(ns, sub),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "window_to_prediction_seconds",
			Help: "Time from a window being ready to its prediction being emitted, sampled once per batch (its oldest row).", Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14)}),
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
		freed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "sessions_released_total",
			Help: "ONNX Runtime sessions destroyed after a swap or close."}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "devices_evicted_total",
			Help: "Devices whose state (window, drift sums, alert state) was dropped, by reason (max_devices, idle)."}, []string{"reason"}),
		clockResets: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "clock_resets_total",
			Help: "Device windows restarted because a reading was older than the window by more than clock_reset_after (the device clock was set back)."}),
		badOutputs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "invalid_outputs_total",
			Help: "Rows whose model outputs were not finite (NaN or Inf); no prediction is emitted for them."}),
	}
	m.queue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "queue_rows",
		Help: "Ready rows waiting to be scored."}, queueLen)
	m.devices = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "devices",
		Help: "Devices whose state the engine tracks (bounded by max_devices)."}, devices)
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.clockResets, m.readings, m.dropped, m.invalid, m.imputed, m.rows, m.batches,
		m.latency, m.scoreErrors, m.loads, m.modelInfo, m.alerts, m.queue, m.driftZ, m.driftRatio, m.freed,
		m.devices, m.evicted, m.badOutputs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register inference metrics: %w", err)
		}
	}
	return m, nil
}

// batchRowBuckets is the number of finite batch_rows buckets: 1, 2, 4, ... 2048.
const batchRowBuckets = 12

// batchStats counts ONNX Runtime runs and their rows with a few atomic adds
// per batch (a client_golang histogram costs several times that, which
// shows at batch 1) and exports them at scrape time as
// edgepm_inference_batches_total and the edgepm_inference_batch_rows
// histogram (buckets 1, 2, 4, ... 2048). Safe for concurrent use.
type batchStats struct {
	rows     atomic.Uint64
	buckets  [batchRowBuckets + 1]atomic.Uint64 // bucket i counts batches of 2^(i-1) < rows <= 2^i; the last, the rest
	runs     *prometheus.Desc
	rowsHist *prometheus.Desc
}

func newBatchStats(ns, sub string) *batchStats {
	return &batchStats{
		runs:     prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "batches_total"), "ONNX Runtime runs.", nil, nil),
		rowsHist: prometheus.NewDesc(prometheus.BuildFQName(ns, sub, "batch_rows"), "Rows per ONNX Runtime run.", nil, nil),
	}
}

// observe records one run of n >= 1 rows.
func (b *batchStats) observe(n int) {
	b.rows.Add(uint64(n))
	b.buckets[min(bits.Len(uint(n-1)), batchRowBuckets)].Add(1)
}

// count returns the runs recorded.
func (b *batchStats) count() uint64 {
	var c uint64
	for i := range b.buckets {
		c += b.buckets[i].Load()
	}
	return c
}

func (b *batchStats) Describe(ch chan<- *prometheus.Desc) { ch <- b.runs; ch <- b.rowsHist }

func (b *batchStats) Collect(ch chan<- prometheus.Metric) {
	cum := make(map[float64]uint64, batchRowBuckets)
	var c uint64
	for i := range batchRowBuckets {
		c += b.buckets[i].Load()
		cum[float64(uint64(1)<<i)] = c
	}
	c += b.buckets[batchRowBuckets].Load()
	ch <- prometheus.MustNewConstMetric(b.runs, prometheus.CounterValue, float64(c))
	ch <- prometheus.MustNewConstHistogram(b.rowsHist, c, float64(b.rows.Load()), cum)
}
