package edge

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/internal/wire"
)

// How long inference may wait for the output queues before the batch's
// records are dropped and counted. Waiting is backpressure (a slow disk
// slows scoring, which slows ingest); the bound keeps a wedged buffer (disk
// full) from stopping scoring and local alerts.
const (
	predictionWait = time.Second
	alertWait      = 5 * time.Second
)

// outputs carries inference's results to the buffer: predictions and
// alerts on separate queues, each with its own loop, so alerts are never
// stuck behind predictions (alerts use the buffer's block policy).
type outputs struct {
	preds  chan []buffer.Record // a batch's edgepm.predictions records
	alerts chan []inference.AlertEvent
	stop   chan struct{} // closed at shutdown: emit stops waiting, loops drain and return

	served headerCache // emit's (inference's Run goroutine)
	shadow headerCache // emitShadow's (the shadow model's goroutine)
}

func newOutputs() *outputs {
	return &outputs{preds: make(chan []buffer.Record, 256), alerts: make(chan []inference.AlertEvent, 1024),
		stop: make(chan struct{}), served: headerCache{build: wire.ModelHeaders}, shadow: headerCache{build: wire.ShadowHeaders}}
}

// headerCache keeps the record headers of the last model seen, shared
// read-only by its records. Not safe for concurrent use: one per goroutine.
type headerCache struct {
	build         func(name, version string) []buffer.Header
	name, version string
	hdr           []buffer.Header
}

// get returns the record headers for a model.
func (c *headerCache) get(name, version string) []buffer.Header {
	if c.hdr == nil || name != c.name || version != c.version {
		c.name, c.version, c.hdr = name, version, c.build(name, version)
	}
	return c.hdr
}

// emit is called by inference with each scored batch, on its Run goroutine.
// Alerts go to local MQTT at once (they must work with the uplink and the
// disk down); predictions (encoded here, as the batch is only valid during
// the call) and alerts are queued for the buffer. emit never blocks longer
// than alertWait + predictionWait.
func (a *App) emit(b *inference.Batch) {
	n := b.Len()
	a.devices.scored(b)
	a.rates.predictions.Add(int64(n))
	alerts := slices.Clone(b.Alerts) // the batch's memory is reused after emit
	for i := range alerts {
		al := &alerts[i]
		a.devices.alert(al)
		a.hist.addAlert(al)
		a.publishAlert(al)
	}
	if len(alerts) > 0 && !enqueue(a.outs.alerts, alerts, alertWait, a.outs.stop) {
		a.m.dropped.WithLabelValues(buffer.StreamAlerts, "output_queue_full").Add(float64(len(alerts)))
		a.log.Error("alerts not buffered for Kafka: the buffer is not keeping up (they were published locally)", "alerts", len(alerts))
	}
	if n > 0 && !enqueue(a.outs.preds, a.predictionRecords(b, &a.outs.served), predictionWait, a.outs.stop) {
		a.m.dropped.WithLabelValues(buffer.StreamPredictions, "output_queue_full").Add(float64(n))
		a.log.Warn("predictions not buffered: the buffer is not keeping up", "predictions", n)
	}
}

// emitShadow is called by inference with each batch of shadow predictions,
// on the shadow model's goroutine. They go to the predictions stream with
// the edgepm-shadow header and nowhere else (no alerts, no device table,
// no rates). It never waits, and it leaves the served predictions half of
// the output queue: past that, shadow predictions are dropped first
// (counted, reason shadow_output_queue_full).
func (a *App) emitShadow(b *inference.Batch) {
	if len(a.outs.preds) >= cap(a.outs.preds)/2 {
		a.m.dropped.WithLabelValues(buffer.StreamPredictions, "shadow_output_queue_full").Add(float64(b.Len()))
		return
	}
	select {
	case a.outs.preds <- a.predictionRecords(b, &a.outs.shadow):
	default:
		a.m.dropped.WithLabelValues(buffer.StreamPredictions, "shadow_output_queue_full").Add(float64(b.Len()))
	}
}

// enqueue sends v on ch, waiting at most d, and not at all once stop is
// closed. It reports whether v was queued.
func enqueue[T any](ch chan T, v T, d time.Duration, stop <-chan struct{}) bool {
	select {
	case ch <- v:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case ch <- v:
		return true
	case <-t.C:
		return false
	case <-stop:
		return false
	}
}

func (a *App) publishAlert(al *inference.AlertEvent) {
	topic := ingest.Expand(a.cfg.MQTT.AlertTopic, alertFields(al, a.cfg.GatewayID))
	if err := a.mqtt.Publish(topic, *a.cfg.MQTT.AlertQoS, a.cfg.MQTT.AlertRetain, mustJSON(a.alertValue(al))); err != nil {
		a.m.alertPubErrs.Inc()
		a.log.Warn("local alert not published", "topic", topic, "err", err)
	}
}

// alertFields are the fields of an alert's local topic: the topic captures
// of the reading that started the device's state in inference (carried by
// the alert itself, so no table that may have evicted the device is
// consulted), its device and the gateway.
func alertFields(al *inference.AlertEvent, gateway string) map[string]string {
	fields := make(map[string]string, len(al.Fields)+2)
	for k, v := range al.Fields {
		fields[k] = v
	}
	fields["device"], fields["gateway"] = al.Device, gateway
	return fields
}

// predictionLoop commits predictions, batching what has queued up, until
// stop is closed; then it commits what is still queued and returns.
func (a *App) predictionLoop() {
	outputLoop(a, a.outs.preds, func(recs, v []buffer.Record) []buffer.Record {
		if recs == nil {
			return v
		}
		return append(recs, v...)
	}, "predictions")
}

// alertLoop is predictionLoop for alerts.
func (a *App) alertLoop() {
	outputLoop(a, a.outs.alerts, a.alertRecords, "alerts")
}

func outputLoop[T any](a *App, ch chan T, records func([]buffer.Record, T) []buffer.Record, what string) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		a.lastOutput.Store(time.Now().UnixNano())
		var first T
		select {
		case first = <-ch:
		case <-tick.C:
			continue
		case <-a.outs.stop:
			a.commitOutputs(drain(ch, nil, records), what)
			return
		}
		recs := drain(ch, records(nil, first), records)
		a.commitOutputs(recs, what)
	}
}

// drain adds what is queued on ch (without waiting) to recs, up to 4096.
func drain[T any](ch chan T, recs []buffer.Record, records func([]buffer.Record, T) []buffer.Record) []buffer.Record {
	for len(recs) < 4096 {
		select {
		case v := <-ch:
			recs = records(recs, v)
		default:
			return recs
		}
	}
	return recs
}

func (a *App) commitOutputs(recs []buffer.Record, what string) {
	if err := a.appendRetry(a.hardStop, recs, what); err != nil {
		stream := buffer.StreamPredictions
		if what == "alerts" {
			stream = buffer.StreamAlerts
		}
		a.m.dropped.WithLabelValues(stream, "not_committed").Add(float64(len(recs)))
		a.log.Error("records not committed at shutdown", "what", what, "records", len(recs), "err", err)
	}
}

// predictionRecords encodes a batch's predictions as edgepm.predictions
// records. Their keys and values share one allocation; records of one model
// share their headers, from hdr (the calling goroutine's cache).
func (a *App) predictionRecords(b *inference.Batch, hdr *headerCache) []buffer.Record {
	now := time.Now()
	n := b.Len()
	recs := make([]buffer.Record, n)
	slab := make([]byte, 0, n*(256+len(a.cfg.GatewayID)))
	for i := range recs {
		name, version := b.Model(i)
		device := b.Device(i)
		at := len(slab)
		slab = append(slab, device...)
		key := slab[at:len(slab):len(slab)]
		at = len(slab)
		slab = appendPredictionValue(slab, a.cfg.GatewayID, b, i, now)
		recs[i] = buffer.Record{Stream: buffer.StreamPredictions, Time: now, Key: key,
			Value: slab[at:len(slab):len(slab)], Headers: hdr.get(name, version)}
	}
	return recs
}

func (a *App) alertRecords(recs []buffer.Record, alerts []inference.AlertEvent) []buffer.Record {
	now := time.Now()
	for i := range alerts {
		al := &alerts[i]
		recs = append(recs, buffer.Record{Stream: buffer.StreamAlerts, Time: now, Key: []byte(al.Device),
			Value: a.marshal(a.alertValue(al), "alert"), Headers: wire.ModelHeaders(al.Model, al.ModelVersion)})
	}
	return recs
}

// marshal encodes a record value; a failure (a non-finite number that got
// past validation, say) is counted and logged, and the record carries the
// error instead of silently vanishing.
func (a *App) marshal(v any, what string) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		a.m.encodeErrors.WithLabelValues(what).Inc()
		a.log.Error("record value not encodable", "what", what, "err", err)
		b, _ = json.Marshal(map[string]any{"v": wire.Version, "gateway": a.cfg.GatewayID, "encode_error": err.Error()})
	}
	return b
}
