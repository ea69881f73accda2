package buffer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the queue's Prometheus metrics (names in docs/formats/buffer.md).
type metrics struct {
	reg            prometheus.Registerer
	commitSeconds  prometheus.Histogram
	commitRecords  prometheus.Histogram
	writeErrors    prometheus.Counter
	corruptRecords prometheus.Counter
	recovered      prometheus.Counter
	dropped        *prometheus.CounterVec
	droppedBytes   *prometheus.CounterVec
	collector      *queueCollector
}

func newMetrics(q *Queue, reg prometheus.Registerer) *metrics {
	m := &metrics{
		reg: reg,
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edgepm_buffer_commit_seconds",
			Help:    "Duration of buffer group commits, including fsync.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		commitRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "edgepm_buffer_commit_records",
			Help:    "Records appended per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgepm_buffer_write_errors_total",
			Help: "Failed buffer commits (disk full, I/O errors).",
		}),
		corruptRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgepm_buffer_records_corrupt_total",
			Help: "Records skipped by Read because they failed their checksum.",
		}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgepm_buffer_recovered_files_total",
			Help: "Buffer files found unusable at Open (corrupt, truncated, empty) and moved aside.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgepm_buffer_records_dropped_total",
			Help: "Records dropped by stream caps, the buffer cap or TTL, since start.",
		}, []string{"stream", "reason"}),
		droppedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgepm_buffer_bytes_dropped_total",
			Help: "Stored bytes dropped by stream caps, the buffer cap or TTL, since start.",
		}, []string{"stream", "reason"}),
		collector: &queueCollector{q: q},
	}
	if reg != nil {
		for _, c := range m.all() {
			if err := reg.Register(c); err != nil {
				q.log.Warn("buffer metric not registered", "err", err)
			}
		}
	}
	return m
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.commitSeconds, m.commitRecords, m.writeErrors,
		m.corruptRecords, m.recovered, m.dropped, m.droppedBytes, m.collector}
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.all() {
		m.reg.Unregister(c)
	}
}

func (m *metrics) observeCommit(d time.Duration, records int, err error) {
	if err != nil {
		m.writeErrors.Inc()
		return
	}
	m.commitSeconds.Observe(d.Seconds())
	if records > 0 {
		m.commitRecords.Observe(float64(records))
	}
}

func (m *metrics) observeDrops(notes []dropNote) {
	for _, n := range notes {
		m.dropped.WithLabelValues(n.stream, n.reason).Add(float64(n.records))
		m.droppedBytes.WithLabelValues(n.stream, n.reason).Add(float64(n.bytes))
	}
}

// queueCollector exports gauges from a Stats snapshot at scrape time.
type queueCollector struct{ q *Queue }

var (
	descRecords  = prometheus.NewDesc("edgepm_buffer_records", "Records stored per stream.", []string{"stream"}, nil)
	descBytes    = prometheus.NewDesc("edgepm_buffer_bytes", "Stored bytes per stream.", []string{"stream"}, nil)
	descOldest   = prometheus.NewDesc("edgepm_buffer_oldest_age_seconds", "Age of the oldest stored record per stream (0 when empty).", []string{"stream"}, nil)
	descLastSeq  = prometheus.NewDesc("edgepm_buffer_last_seq", "Last assigned sequence number per stream.", []string{"stream"}, nil)
	descAppended = prometheus.NewDesc("edgepm_buffer_records_appended_total", "Records appended per stream since start.", []string{"stream"}, nil)
	descAcked    = prometheus.NewDesc("edgepm_buffer_records_acked_total", "Records acknowledged (deleted after delivery) per stream since start.", []string{"stream"}, nil)
	descMax      = prometheus.NewDesc("edgepm_buffer_max_bytes", "The whole-buffer cap in stored bytes.", nil, nil)
	descFile     = prometheus.NewDesc("edgepm_buffer_file_bytes", "Size of the buffer file on disk.", nil, nil)
	descCond     = prometheus.NewDesc("edgepm_buffer_condition", "1 for each raised health condition.", []string{"condition"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descBytes, descOldest, descLastSeq, descAppended, descAcked, descMax, descFile, descCond} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.q.Stats()
	now := c.q.opts.Now()
	for name, st := range s.Streams {
		ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(st.Records), name)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.Bytes), name)
		age := 0.0
		if !st.OldestTime.IsZero() {
			age = max(now.Sub(st.OldestTime).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, name)
		ch <- prometheus.MustNewConstMetric(descLastSeq, prometheus.GaugeValue, float64(st.LastSeq), name)
		ch <- prometheus.MustNewConstMetric(descAppended, prometheus.CounterValue, float64(st.Appended), name)
		ch <- prometheus.MustNewConstMetric(descAcked, prometheus.CounterValue, float64(st.Acked), name)
	}
	ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(s.MaxBytes))
	ch <- prometheus.MustNewConstMetric(descFile, prometheus.GaugeValue, float64(s.FileSize))
	for _, cond := range s.Conditions {
		ch <- prometheus.MustNewConstMetric(descCond, prometheus.GaugeValue, 1, cond.Name)
	}
}
