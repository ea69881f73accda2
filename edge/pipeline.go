package edge

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/features"
)

// maxIngestBatch bounds the messages committed in one buffer transaction.
const maxIngestBatch = 1024

// commitJob is one batch of messages, decoded, on its way to the buffer.
type commitJob struct {
	msgs     []*Message
	recs     []buffer.Record
	readings int
	start    time.Time
}

// ingestLoop takes messages from MQTT, decodes them, hands valid readings to
// inference (which does not wait for the disk) and passes the batch with its
// buffer records to commitLoop. Decoding the next batch overlaps the commit
// (fsync) of the previous one. It returns, closing jobs, when ingest's queue
// is closed and drained.
func (a *App) ingestLoop(jobs chan<- commitJob) {
	defer close(jobs)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	msgs := a.ingest.Messages()
	for {
		a.lastCommit.Store(time.Now().UnixNano())
		var m *Message
		var ok bool
		select {
		case m, ok = <-msgs:
		case <-tick.C:
			continue
		}
		if !ok {
			return
		}
		batch := make([]*Message, 1, 64)
		batch[0] = m
	fill:
		for len(batch) < maxIngestBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		jobs <- a.decodeBatch(batch)
	}
}

// commitLoop commits each batch to the buffer in one durable append and only
// then acknowledges its messages to the broker, in arrival order. It returns
// when jobs is closed and drained.
func (a *App) commitLoop(jobs <-chan commitJob) {
	for j := range jobs {
		a.appendRetry(j.recs, "ingest")
		a.m.commitSecs.Observe(time.Since(j.start).Seconds())
		a.m.readings.Add(float64(j.readings))
		a.rates.readings.Add(int64(j.readings))
		for _, m := range j.msgs {
			m.Ack()
		}
		a.lastCommit.Store(time.Now().UnixNano())
	}
}

func (a *App) decodeBatch(batch []*Message) commitJob {
	j := commitJob{msgs: batch, recs: make([]buffer.Record, 0, len(batch)), start: time.Now()}
	dec := a.dec.Load()
	ctx := context.Background()
	for _, m := range batch {
		a.m.messages.Inc()
		device, fields, ok := m.Template.Match(m.Topic)
		if !ok {
			j.recs = append(j.recs, a.deadletter(m, "", &InvalidError{Reason: ReasonBadTopic,
				Detail: "topic does not match " + m.Template.String()}))
			continue
		}
		rs, err := dec.Decode(device, fields, m.Payload)
		if err != nil {
			j.recs = append(j.recs, a.deadletter(m, device, err))
			continue
		}
		for i := range rs {
			r := &rs[i]
			j.recs = append(j.recs, buffer.Record{Stream: buffer.StreamReadings, Time: r.Received, Key: []byte(r.Device),
				Value: appendReadingValue(nil, a.cfg.GatewayID, r), Headers: schemaHeaders})
			a.devices.seen(r.Device, r.Time, r.Fields)
			// Blocks while inference's queue is full: ingest slows, nothing drops.
			if err := a.engine.Observe(ctx, inferenceReading(r)); err != nil {
				a.log.Warn("inference rejected reading", "device", r.Device, "err", err)
			}
		}
		j.readings += len(rs)
	}
	return j
}

// appendRetry commits recs, retrying with backoff on a write error (disk
// full, I/O error): the caller's messages stay unacknowledged meanwhile, so
// the broker keeps them and ingest slows instead of losing data. It gives
// up only when the buffer is closed.
func (a *App) appendRetry(recs []buffer.Record, what string) {
	if len(recs) == 0 {
		return
	}
	backoff := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := a.queue.Append(ctx, recs)
		cancel()
		if err == nil {
			return
		}
		if what == "ingest" {
			a.m.commitErrors.Inc()
		}
		if isClosed(err) {
			a.log.Error("buffer closed; records not committed", "what", what, "records", len(recs))
			return
		}
		a.log.Error("buffer append failed; retrying", "what", what, "records", len(recs), "err", err, "retry_in", backoff)
		time.Sleep(backoff)
		// Still alive, only waiting for the disk: keep the watchdog fed, a
		// restart would not free space.
		a.lastCommit.Store(time.Now().UnixNano())
		a.lastOutput.Store(time.Now().UnixNano())
		backoff = min(backoff*2, 5*time.Second)
	}
}

// inferenceReading maps a decoded reading to the engine's input. The device
// class comes from a {class} topic level when the template has one.
func inferenceReading(r *Reading) inference.Reading {
	ir := inference.Reading{Device: r.Device, Time: r.Time, Values: r.Values, Class: r.Fields["class"]}
	if w := r.Waveform; w != nil {
		ir.Waveforms = map[string]features.Waveform{w.Channel: {RateHz: w.RateHz, Samples: w.Samples}}
	}
	return ir
}

func isClosed(err error) bool { return errors.Is(err, buffer.ErrClosed) }

var schemaHeaders = []buffer.Header{{Key: HeaderSchema, Value: []byte(strconv.Itoa(SchemaVersion))}}

func (a *App) deadletter(m *Message, device string, err error) buffer.Record {
	reason := ReasonMalformed
	if ie, ok := err.(*InvalidError); ok {
		reason = ie.Reason
	}
	a.m.invalid.WithLabelValues(reason).Inc()
	a.log.Debug("invalid message", "topic", m.Topic, "reason", reason, "err", err)
	now := time.Now()
	v := deadletterValue{V: SchemaVersion, Gateway: a.cfg.GatewayID, Topic: m.Topic, Device: device,
		Reason: reason, Error: err.Error(), Received: unixMs(now), Payload: m.Payload}
	key := device
	if key == "" {
		key = m.Topic
	}
	return buffer.Record{Stream: buffer.StreamDeadletter, Time: now, Key: []byte(key), Value: mustJSON(v), Headers: schemaHeaders}
}

// emit is called by inference with each scored batch. Alerts go to local
// MQTT at once (they must work with the uplink down); predictions and
// alerts are queued for the buffer.
func (a *App) emit(preds []inference.Prediction, alerts []inference.AlertEvent) {
	for i := range preds {
		a.devices.scored(&preds[i])
	}
	a.m.predictions.Add(float64(len(preds)))
	a.rates.predictions.Add(int64(len(preds)))
	for i := range alerts {
		al := &alerts[i]
		a.devices.alert(al)
		a.m.alerts.WithLabelValues(al.State).Inc()
		a.publishAlert(al)
	}
	a.out <- output{preds: preds, alerts: alerts}
}

func (a *App) publishAlert(al *inference.AlertEvent) {
	fields := map[string]string{"device": al.Device, "gateway": a.cfg.GatewayID}
	for k, v := range a.devices.fields(al.Device) {
		fields[k] = v
	}
	topic := Expand(a.cfg.MQTT.AlertTopic, fields)
	if err := a.ingest.Publish(context.Background(), topic, *a.cfg.MQTT.AlertQoS, a.cfg.MQTT.AlertRetain, mustJSON(a.alertValue(al))); err != nil {
		a.m.alertPubErrs.Inc()
		a.log.Warn("local alert not published", "topic", topic, "err", err)
	}
}

func (a *App) alertValue(al *inference.AlertEvent) alertValue {
	return alertValue{V: SchemaVersion, Gateway: a.cfg.GatewayID, Device: al.Device, Model: al.Model,
		ModelVersion: al.ModelVersion, State: al.State, Score: al.Score, Threshold: al.Threshold, TS: unixMs(al.Time)}
}

// outputLoop commits predictions and alerts to the buffer, batching what
// has queued up, until a.out is closed and drained.
func (a *App) outputLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		a.lastOutput.Store(time.Now().UnixNano())
		var o output
		var ok bool
		select {
		case o, ok = <-a.out:
		case <-tick.C:
			continue
		}
		if !ok {
			return
		}
		recs := a.outputRecords(nil, o)
	fill:
		for len(recs) < 4096 {
			select {
			case o, ok := <-a.out:
				if !ok {
					break fill
				}
				recs = a.outputRecords(recs, o)
			default:
				break fill
			}
		}
		a.appendRetry(recs, "predictions")
	}
}

func (a *App) outputRecords(recs []buffer.Record, o output) []buffer.Record {
	now := time.Now()
	for i := range o.preds {
		p := &o.preds[i]
		v := predictionValue{V: SchemaVersion, Gateway: a.cfg.GatewayID, Device: p.Device, Model: p.Model,
			ModelVersion: p.ModelVersion, WindowEnd: unixMs(p.WindowEnd), TS: unixMs(now), Score: p.Score,
			Outputs: p.Outputs, FeatureHash: p.FeatureHash}
		recs = append(recs, buffer.Record{Stream: buffer.StreamPredictions, Time: now, Key: []byte(p.Device),
			Value: mustJSON(v), Headers: modelHeaders(p.Model, p.ModelVersion)})
	}
	for i := range o.alerts {
		al := &o.alerts[i]
		recs = append(recs, buffer.Record{Stream: buffer.StreamAlerts, Time: now, Key: []byte(al.Device),
			Value: mustJSON(a.alertValue(al)), Headers: modelHeaders(al.Model, al.ModelVersion)})
	}
	return recs
}

func modelHeaders(name, version string) []buffer.Header {
	return []buffer.Header{schemaHeaders[0], {Key: HeaderModel, Value: []byte(name + ":" + version)}}
}

// event appends a gateway lifecycle event to the events stream.
func (a *App) event(typ string, detail map[string]any) {
	v := eventValue{V: SchemaVersion, Gateway: a.cfg.GatewayID, Type: typ, TS: unixMs(time.Now()), Detail: detail}
	rec := buffer.Record{Stream: buffer.StreamEvents, Time: time.Now(), Key: []byte(a.cfg.GatewayID),
		Value: mustJSON(v), Headers: schemaHeaders}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.queue.Append(ctx, []buffer.Record{rec}); err != nil {
		a.log.Warn("event not buffered", "type", typ, "err", err)
	}
}

// watchdog pings systemd's watchdog while the ingest and output loops keep
// turning (each turns at least once a second even when idle), until ctx
// ends. A loop stuck for longer than the watchdog interval stops the pings
// and systemd restarts the service.
func (a *App) watchdog(ctx context.Context) {
	iv := WatchdogInterval()
	if iv <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			limit := time.Now().Add(-2 * iv).UnixNano()
			if a.lastCommit.Load() < limit || a.lastOutput.Load() < limit {
				a.log.Error("pipeline stalled; withholding watchdog ping")
				continue
			}
			_ = a.notify.Notify("WATCHDOG=1")
		}
	}
}
