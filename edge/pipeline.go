package edge

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/internal/wire"
)

// prepare is the ingest Pipeline's Sink: it turns a decoded batch into
// buffer records (readings, dead letters, stuck-sensor events), updates
// the device table, hands each reading to inference (which does not wait
// for the disk) and returns the commit. The records' keys and values share
// one allocation.
func (a *App) prepare(b *ingest.Batch) func() error {
	recs := make([]buffer.Record, 0, len(b.Readings)+len(b.Invalid)+len(b.Stuck)+len(b.Presence))
	size := 0
	for _, m := range b.Messages {
		size += len(m.Payload) + len(m.Topic) + len(a.cfg.GatewayID) + 96 // the record's other fields
	}
	slab := make([]byte, 0, size)
	a.m.messages.Add(float64(len(b.Messages)))
	ctx := context.Background()
	var losses []lossEvent
	for i := range b.Readings {
		r := &b.Readings[i]
		at := len(slab)
		slab = append(slab, r.Device...)
		key := slab[at:len(slab):len(slab)]
		at = len(slab)
		slab = appendReadingValue(slab, a.cfg.GatewayID, r)
		recs = append(recs, buffer.Record{Stream: buffer.StreamReadings, Time: r.Received, Key: key,
			Value: slab[at:len(slab):len(slab)], Headers: wire.SchemaHeaders()})
		if ev, due := a.devices.seen(r); due {
			losses = append(losses, ev)
		}
		// Blocks while inference's queue is full: ingest slows, nothing drops.
		if err := a.engine.Observe(ctx, inferenceReading(r)); err != nil {
			a.log.Warn("inference rejected reading", "device", r.Device, "err", err)
		}
	}
	if len(b.Invalid) > 0 {
		room := a.cfg.recordRoom(buffer.StreamDeadletter, 0)
		for i := range b.Invalid {
			recs = append(recs, a.deadletter(b.MaxPayloadBytes, room, &b.Invalid[i]))
		}
	}
	recs = a.stuckEvents(recs, b.Stuck)
	recs = a.lossRecords(recs, losses, time.Now())
	recs = a.presenceEvents(recs, b.Presence)
	readings, taken := len(b.Readings), b.Taken
	return func() error {
		err := a.appendRetry(a.hardStop, recs, "ingest")
		if err != nil && isPermanent(err) && len(recs) == 1 {
			// As inside a batch (appendEach): a record the buffer can never
			// take must not leave its message unacknowledged for ever.
			a.dropRecord(&recs[0], err)
			err = nil
		}
		if err != nil {
			return err
		}
		a.m.commitSecs.Observe(time.Since(taken).Seconds())
		a.m.readings.Add(float64(readings))
		a.rates.readings.Add(int64(readings))
		return nil
	}
}

// stuckEvents reports stuck-sensor changes (log, metric, device status)
// and appends their event records to recs.
func (a *App) stuckEvents(recs []buffer.Record, changes []ingest.StuckChange) []buffer.Record {
	for _, c := range changes {
		typ, state := wire.EventSensorRecovered, "recovered"
		if c.Stuck {
			typ, state = wire.EventSensorStuck, "stuck"
			a.log.Warn("sensor stuck: same value in consecutive readings", "device", c.Device, "sensor", c.Sensor,
				"value", c.Value, "readings", c.Readings, "since", c.Since)
		} else {
			a.log.Info("stuck sensor recovered", "device", c.Device, "sensor", c.Sensor, "value", c.Value,
				"stuck_readings", c.Readings)
		}
		a.m.stuckEvents.WithLabelValues(state).Inc()
		a.devices.setStuck(c.Device, c.Sensor, c.Stuck)
		recs = append(recs, wire.EventRecord(a.cfg.GatewayID, typ, c.At, map[string]any{
			"device": c.Device, "sensor": c.Sensor, "value": c.Value, "readings": c.Readings, "since": unixMs(c.Since)}))
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
		a.lastRetry.Store(time.Now().UnixNano())
		a.lastOutput.Store(time.Now().UnixNano())
	}
}

// appendEach commits records one at a time after a batch was refused for a
// permanent reason, dropping (and counting) only the records at fault.
func (a *App) appendEach(ctx context.Context, recs []buffer.Record, what string) error {
	for i := range recs {
		err := a.appendRetry(ctx, recs[i:i+1], what)
		if err != nil && isPermanent(err) {
			a.dropRecord(&recs[i], err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dropRecord counts and logs a record the buffer refused for good.
func (a *App) dropRecord(r *buffer.Record, err error) {
	a.m.dropped.WithLabelValues(r.Stream, dropReason(err)).Inc()
	a.log.Error("record dropped: the buffer can never take it", "stream", r.Stream,
		"key", string(r.Key), "bytes", len(r.Value), "err", err)
}

// dropReason is the reason label of a record the buffer refused for good.
func dropReason(err error) string {
	if errors.Is(err, buffer.ErrUnknownStream) {
		return "unknown_stream"
	}
	return "too_large"
}

func isPermanent(err error) bool {
	return errors.Is(err, buffer.ErrTooLarge) || errors.Is(err, buffer.ErrUnknownStream)
}

// inferenceReading maps a decoded reading to the engine's input. The device
// class comes from a {class} topic level when the template has one.
func inferenceReading(r *ingest.Reading) inference.Reading {
	ir := inference.Reading{Device: r.Device, Time: r.Time, Values: r.Values, Class: r.Fields["class"], Fields: r.Fields}
	if w := r.Waveform; w != nil {
		ir.Waveforms = map[string]features.Waveform{w.Channel: {RateHz: w.RateHz, Samples: w.Samples}}
	}
	return ir
}

func isClosed(err error) bool { return errors.Is(err, buffer.ErrClosed) }

// maxDeadletterError bounds the error text of a dead letter (it may quote
// a key or value of the payload).
const maxDeadletterError = 1024

// deadletter is the edgepm.deadletter record of an invalid message. It
// keeps at most maxPayload bytes of the payload, and at most what lets the
// record (key, base64 payload and the rest) fit room bytes, so a dead letter
// is always storable and sendable whatever the limits: the message is then
// acknowledged after its commit instead of being redelivered forever.
func (a *App) deadletter(maxPayload, room int, in *ingest.Invalid) buffer.Record {
	m, device, err, reason := in.Message, in.Device, in.Err, in.Err.Reason
	a.m.invalid.WithLabelValues(reason).Inc()
	a.hist.invalid.Add(1)
	a.log.Debug("invalid message", "topic", m.Topic, "reason", reason, "err", err)
	now := time.Now()
	key := device
	if key == "" {
		key = m.Topic
	}
	v := wire.DeadLetter{V: wire.Version, Gateway: a.cfg.GatewayID, Topic: m.Topic, Device: device,
		Reason: reason, Error: capText(err.Error(), maxDeadletterError), Received: unixMs(now), PayloadBytes: len(m.Payload), Truncated: true}
	fixed := len(key) + len(mustJSON(v)) + 16 // "payload":null becomes the quoted base64
	keep := min(len(m.Payload), maxPayload, max(0, (room-fixed)/4*3))
	v.Payload, v.Truncated = m.Payload[:keep], keep < len(m.Payload)
	return buffer.Record{Stream: buffer.StreamDeadletter, Time: now, Key: []byte(key), Value: mustJSON(v), Headers: wire.SchemaHeaders()}
}

// capText cuts s to at most n bytes, at a rune boundary, marking the cut.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// event appends a gateway lifecycle event (wire.EventRecord, type
// "gateway.*", "mqtt.*", "config.*", "inference.*") to the events stream.
func (a *App) event(typ string, detail map[string]any) {
	rec := wire.EventRecord(a.cfg.GatewayID, typ, time.Now(), detail)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.queue.Append(ctx, []buffer.Record{rec}); err != nil {
		a.log.Warn("event not buffered", "type", typ, "err", err)
	}
}

// ingestAlive is when the ingest side last showed progress: a turn of the
// pipeline's decode loop or a buffer append retry (waiting for the disk is
// alive: a restart would not free space).
func (a *App) ingestAlive() time.Time {
	if t := time.Unix(0, a.lastRetry.Load()); t.After(a.pipeline.LastTurn()) {
		return t
	}
	return a.pipeline.LastTurn()
}

// watchdog pings systemd's watchdog while the ingest and output loops keep
// turning (each turns at least once a second even when idle), until ctx
// ends. A loop stuck for longer than the watchdog interval stops the pings
// and systemd restarts the service.
func (a *App) watchdog(ctx context.Context) {
	iv := watchdogInterval()
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
			if a.ingestAlive().UnixNano() < limit || a.lastOutput.Load() < limit {
				a.log.Error("pipeline stalled; withholding watchdog ping")
				continue
			}
			_ = a.notify.send("WATCHDOG=1")
		}
	}
}
