package bridge

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the producer's Prometheus collectors. With a nil registerer
// they exist but are not registered.
type metrics struct {
	sent, acked, errors *prometheus.CounterVec
	dropped             *prometheus.CounterVec
	latency             prometheus.Histogram
	online              prometheus.Gauge
	inflight            prometheus.GaugeFunc
	backlogRecords      prometheus.Gauge
	backlogBytes        prometheus.Gauge
	backlogAge          prometheus.Gauge
	backlogETA          *prometheus.GaugeVec // no labels: absent while the ETA is unknown
	streamBacklog       *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, p *Producer) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgepm_bridge_records_sent_total", Help: "Records handed to Kafka, by stream (resends included).",
		}, []string{"stream"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgepm_bridge_records_acked_total", Help: "Records acknowledged by Kafka, by stream.",
		}, []string{"stream"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgepm_bridge_produce_errors_total", Help: "Failed record produces (they are retried), by stream.",
		}, []string{"stream"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgepm_bridge_records_dropped_total", Help: "Records that can never be produced, dropped, by stream and reason.",
		}, []string{"stream", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edgepm_bridge_ack_latency_seconds", Help: "Time from handing a record to Kafka to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		online: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgepm_bridge_online", Help: "1 when Kafka is reachable and acknowledging, else 0.",
		}),
		inflight: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgepm_bridge_inflight_records", Help: "Records handed to Kafka and not yet acknowledged.",
		}, func() float64 { return float64(p.inflightCount()) }),
		backlogRecords: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgepm_bridge_backlog_records", Help: "Records waiting in the buffer for Kafka, all streams.",
		}),
		backlogBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgepm_bridge_backlog_bytes", Help: "Bytes waiting in the buffer for Kafka, all streams.",
		}),
		backlogAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgepm_bridge_backlog_oldest_age_seconds", Help: "Age of the oldest record waiting in the buffer.",
		}),
		backlogETA: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgepm_bridge_backlog_eta_seconds", Help: "Backlog records / acknowledgement rate; absent while records wait and nothing is acknowledged.",
		}, nil),
		streamBacklog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgepm_bridge_stream_backlog_records", Help: "Records waiting in the buffer, by stream.",
		}, []string{"stream"}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.acked, m.errors, m.dropped, m.latency, m.online, m.inflight,
			m.backlogRecords, m.backlogBytes, m.backlogAge, m.backlogETA, m.streamBacklog)
	}
	return m
}

func (m *metrics) setOnline(on bool) {
	if on {
		m.online.Set(1)
	} else {
		m.online.Set(0)
	}
}

func (m *metrics) setBacklog(st Status) {
	m.backlogRecords.Set(float64(st.Backlog.Records))
	m.backlogBytes.Set(float64(st.Backlog.Bytes))
	m.backlogAge.Set(st.Backlog.OldestAge.Seconds())
	if st.Backlog.ETA < 0 { // unknown: no series rather than a sentinel
		m.backlogETA.Reset()
	} else {
		m.backlogETA.WithLabelValues().Set(st.Backlog.ETA.Seconds())
	}
	for _, s := range st.Streams {
		m.streamBacklog.WithLabelValues(s.Stream).Set(float64(s.Records))
	}
}

// watcherMetrics are the ModelWatcher's collectors.
type watcherMetrics struct {
	deploys     *prometheus.CounterVec
	ignored     *prometheus.CounterVec
	staged      prometheus.Counter
	stagedBytes prometheus.Gauge
}

func newWatcherMetrics(reg prometheus.Registerer) watcherMetrics {
	m := watcherMetrics{
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgepm_bridge_model_deploys_total", Help: "Model packages handled, by result (activated or a reject reason).",
		}, []string{"result"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgepm_bridge_model_records_ignored_total",
			Help: "Models-topic records ignored, by reason (bad_key, chunk_index, chunk_sha256, too_many_names).",
		}, []string{"reason"}),
		staged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgepm_bridge_model_chunks_staged_total", Help: "Verified model chunks written to the staging directory.",
		}),
		stagedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgepm_bridge_model_staged_bytes", Help: "Bytes of the model version being received, staged on disk.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.deploys, m.ignored, m.staged, m.stagedBytes)
		m.deploys.WithLabelValues("activated") // present from the start, so rate() and alert rules see it
	}
	return m
}
