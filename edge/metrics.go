package edge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/edge/ingest"
)

// metrics are the appliance's own Prometheus metrics; buffer, bridge and
// inference register theirs on the same registry. Predictions and alert
// transitions are counted once, by inference
// (edgepm_inference_rows_scored_total, edgepm_inference_alert_events_total).
type metrics struct {
	messages     prometheus.Counter
	readings     prometheus.Counter
	invalid      *prometheus.CounterVec
	commitSecs   prometheus.Histogram
	commitErrors prometheus.Counter
	alertPubErrs prometheus.Counter
	mqttUp       prometheus.Gauge
	dropped      *prometheus.CounterVec
	encodeErrors *prometheus.CounterVec
	unacked      prometheus.GaugeFunc
	stuck        prometheus.GaugeFunc
	stuckEvents  *prometheus.CounterVec
	heartbeats   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, unacked, stuck func() float64) *metrics {
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepm_ingest_messages_total",
			Help: "MQTT messages received."}),
		readings: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepm_ingest_readings_total",
			Help: "Valid readings committed to the buffer."}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgepm_ingest_invalid_total",
			Help: "Messages sent to the dead-letter stream, by reason."}, []string{"reason"}),
		commitSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "edgepm_ingest_commit_seconds",
			Help: "Time from a batch of messages taken from MQTT to its durable buffer commit.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepm_ingest_commit_errors_total",
			Help: "Failed buffer commits of ingested messages (retried; messages stay unacknowledged)."}),
		alertPubErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepm_alert_publish_errors_total",
			Help: "Local MQTT alert publishes that could not be sent (MQTT down); the alert is still buffered for Kafka."}),
		mqttUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgepm_mqtt_connected",
			Help: "1 while the MQTT connection is up."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgepm_records_dropped_total",
			Help: "Records the appliance gave up on before the buffer, by stream and reason (too_large, unknown_stream, output_queue_full, not_committed, shadow_output_queue_full)."},
			[]string{"stream", "reason"}),
		encodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgepm_encode_errors_total",
			Help: "Record values that could not be encoded as JSON, by kind."}, []string{"what"}),
		unacked: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgepm_ingest_unacked_messages",
			Help: "MQTT messages received and not yet committed and acknowledged."}, unacked),
		stuck: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgepm_sensors_stuck",
			Help: "Sensors reporting the same value for validation.stuck_after consecutive readings, now."}, stuck),
		stuckEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgepm_sensor_stuck_events_total",
			Help: "Sensors that became stuck (state=stuck) or recovered (state=recovered)."}, []string{"state"}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepm_heartbeats_written_total",
			Help: "Heartbeats (the gateway's state on the gateways topic) committed to the buffer; one not committed is counted in edgepm_records_dropped_total{stream=\"gateways\"}."}),
	}
	for _, r := range ingest.Reasons() {
		m.invalid.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.readings, m.invalid, m.commitSecs, m.commitErrors,
			m.alertPubErrs, m.mqttUp, m.unacked, m.dropped, m.encodeErrors, m.stuck, m.stuckEvents, m.heartbeats)
	}
	return m
}
