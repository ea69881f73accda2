package edge

import (
	"context"
	"errors"
	"fmt"
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
	sc := newDecodeScratch()
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
		jobs <- a.decodeBatch(batch, sc)
	}
}

// commitLoop commits each batch to the buffer in one durable append and only
// then acknowledges its messages to the broker, in arrival order. It returns
// when jobs is closed and drained.
func (a *App) commitLoop(jobs <-chan commitJob) {
	for j := range jobs {
		a.unackedSince.Store(j.msgs[0].Received.UnixNano())
		err := a.appendRetry(a.hardStop, j.recs, "ingest")
		a.unackedSince.Store(0)
		if err != nil {
			// Not acknowledged: the broker redelivers these messages to
			// the next session.
			a.log.Error("ingest batch not committed; left unacknowledged", "messages", len(j.msgs), "err", err)
			continue
		}
		a.m.commitSecs.Observe(time.Since(j.start).Seconds())
		a.m.readings.Add(float64(j.readings))
		a.rates.readings.Add(int64(j.readings))
		for _, m := range j.msgs {
			m.Ack()
		}
		a.lastCommit.Store(time.Now().UnixNano())
	}
}

// decodeBatch decodes and validates a batch of messages into buffer
// records (readings and dead letters) and hands each reading to inference.
// The records' keys and values share allocations; sc is ingestLoop's
// scratch, recycled when the batch is done.
func (a *App) decodeBatch(batch []*Message, sc *decodeScratch) commitJob {
	j := commitJob{msgs: batch, recs: make([]buffer.Record, 0, len(batch)), start: time.Now()}
	defer sc.recycle()
	dec := a.dec.Load()
	ctx := context.Background()
	size := 0
	for _, m := range batch {
		size += len(m.Payload) + len(m.Topic) + len(a.cfg.GatewayID) + 96 // the record's other fields
	}
	slab := make([]byte, 0, size)
	a.m.messages.Add(float64(len(batch)))
	if ch := a.stuck.configure(dec.cfg.StuckAfter, dec.cfg.StuckIgnore); len(ch) > 0 {
		j.recs = a.stuckEvents(j.recs, ch, time.Now())
	}
	for _, m := range batch {
		device, fields, ok := sc.match(m.Template, m.Topic)
		if !ok {
			j.recs = append(j.recs, a.deadletter(dec, m, "", &InvalidError{Reason: ReasonBadTopic,
				Detail: "topic does not match " + m.Template.String()}))
			continue
		}
		rs, err := dec.decode(sc.readings[:0], device, fields, m.Payload, m.Received, sc)
		if err != nil {
			j.recs = append(j.recs, a.deadletter(dec, m, device, err))
			continue
		}
		sc.readings = rs
		for i := range rs {
			r := &rs[i]
			at := len(slab)
			slab = append(slab, r.Device...)
			key := slab[at:len(slab):len(slab)]
			at = len(slab)
			slab = appendReadingValue(slab, a.cfg.GatewayID, r)
			j.recs = append(j.recs, buffer.Record{Stream: buffer.StreamReadings, Time: r.Received, Key: key,
				Value: slab[at:len(slab):len(slab)], Headers: schemaHeaders})
			a.devices.seen(r.Device, r.Time, r.Fields)
			if dec.cfg.StuckAfter > 0 {
				j.recs = a.stuckSensors(j.recs, r, dec)
			}
			// Blocks while inference's queue is full: ingest slows, nothing drops.
			if err := a.engine.Observe(ctx, inferenceReading(r)); err != nil {
				a.log.Warn("inference rejected reading", "device", r.Device, "err", err)
			}
		}
		j.readings += len(rs)
	}
	return j
}

// stuckSensors runs the stuck-sensor check on a reading and appends an
// event record for each sensor that became stuck or recovered (committed
// with the batch).
func (a *App) stuckSensors(recs []buffer.Record, r *Reading, dec *Decoder) []buffer.Record {
	a.stuckBuf = a.stuck.observe(r.Device, r.Time, r.Values, dec.cfg.StuckAfter, dec.cfg.stuckIgnore, a.stuckBuf[:0])
	return a.stuckEvents(recs, a.stuckBuf, r.Received)
}

// stuckEvents reports stuck-sensor changes (log, metric, device status)
// and appends their event records, stamped at, to recs.
func (a *App) stuckEvents(recs []buffer.Record, changes []stuckChange, at time.Time) []buffer.Record {
	for _, c := range changes {
		typ, state := "sensor.recovered", "recovered"
		if c.stuck {
			typ, state = "sensor.stuck", "stuck"
			a.log.Warn("sensor stuck: same value in consecutive readings", "device", c.device, "sensor", c.sensor,
				"value", c.value, "readings", c.readings, "since", c.since)
		} else {
			a.log.Info("stuck sensor recovered", "device", c.device, "sensor", c.sensor, "value", c.value,
				"stuck_readings", c.readings)
		}
		a.m.stuckEvents.WithLabelValues(state).Inc()
		a.devices.setStuck(c.device, c.sensor, c.stuck)
		recs = append(recs, buffer.NewEventRecord(a.cfg.GatewayID, typ, at, map[string]any{
			"device": c.device, "sensor": c.sensor, "value": c.value, "readings": c.readings, "since": unixMs(c.since)}))
	}
	return recs
}

// appendRetry commits recs, retrying with backoff on a write error (disk
// full, I/O error): the caller's messages stay unacknowledged meanwhile, so
// the broker keeps them and ingest slows instead of losing data. A record
// the buffer can never take (ErrTooLarge, ErrUnknownStream) is dropped and
// counted so it cannot wedge the batch. It returns an error only when ctx
// ends or the buffer is closed: the caller must then not acknowledge.
func (a *App) appendRetry(ctx context.Context, recs []buffer.Record, what string) error {
	if len(recs) == 0 {
		return nil
	}
	backoff := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := a.queue.Append(actx, recs)
		cancel()
		switch {
		case err == nil:
			return nil
		case isPermanent(err) && len(recs) > 1:
			return a.appendEach(ctx, recs, what)
		case isPermanent(err):
			return fmt.Errorf("%s: %w", what, err)
		case isClosed(err):
			return fmt.Errorf("%s: %w", what, err)
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %d records not committed: %w", what, len(recs), ctx.Err())
		}
		if what == "ingest" {
			a.m.commitErrors.Inc()
		}
		a.log.Error("buffer append failed; retrying", "what", what, "records", len(recs), "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, 5*time.Second)
		// Still alive, only waiting for the disk: keep the watchdog fed, a
		// restart would not free space.
		a.lastCommit.Store(time.Now().UnixNano())
		a.lastOutput.Store(time.Now().UnixNano())
	}
}

// appendEach commits records one at a time after a batch was refused for a
// permanent reason, dropping (and counting) only the records at fault.
func (a *App) appendEach(ctx context.Context, recs []buffer.Record, what string) error {
	for i := range recs {
		err := a.appendRetry(ctx, recs[i:i+1], what)
		if err != nil && isPermanent(err) {
			a.m.dropped.WithLabelValues(recs[i].Stream, "too_large").Inc()
			a.log.Error("record dropped: the buffer can never take it", "stream", recs[i].Stream,
				"key", string(recs[i].Key), "bytes", len(recs[i].Value), "err", err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func isPermanent(err error) bool {
	return errors.Is(err, buffer.ErrTooLarge) || errors.Is(err, buffer.ErrUnknownStream)
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

func (a *App) deadletter(dec *Decoder, m *Message, device string, err error) buffer.Record {
	reason := ReasonMalformed
	if ie, ok := err.(*InvalidError); ok {
		reason = ie.Reason
	}
	a.m.invalid.WithLabelValues(reason).Inc()
	a.log.Debug("invalid message", "topic", m.Topic, "reason", reason, "err", err)
	now := time.Now()
	v := deadletterValue{V: SchemaVersion, Gateway: a.cfg.GatewayID, Topic: m.Topic, Device: device,
		Reason: reason, Error: err.Error(), Received: unixMs(now), Payload: m.Payload, PayloadBytes: len(m.Payload)}
	// Keep at most max_payload_bytes of the raw payload, so a huge message
	// cannot make a record the buffer (or Kafka) refuses.
	if limit := dec.cfg.MaxPayloadBytes; len(v.Payload) > limit {
		v.Payload, v.Truncated = v.Payload[:limit], true
	}
	key := device
	if key == "" {
		key = m.Topic
	}
	return buffer.Record{Stream: buffer.StreamDeadletter, Time: now, Key: []byte(key), Value: mustJSON(v), Headers: schemaHeaders}
}

// event appends a gateway lifecycle event (buffer.Event envelope, type
// "gateway.*", "mqtt.*", "config.*", "inference.*") to the events stream.
func (a *App) event(typ string, detail map[string]any) {
	rec := buffer.NewEventRecord(a.cfg.GatewayID, typ, time.Now(), detail)
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
