package edge

import (
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/internal/wire"
)

// The record values themselves (fields, versions, headers) are
// internal/wire's; these adapters fill them from edge's and inference's
// types.

// appendReadingValue appends the edgepm.readings value of r to dst
// (wire.AppendReading).
func appendReadingValue(dst []byte, gateway string, r *ingest.Reading) []byte {
	v := wire.Reading{Gateway: gateway, Device: r.Device, Fields: r.Fields, TS: unixMs(r.Time),
		Received: unixMs(r.Received), DeviceSeq: r.DeviceSeq, Values: r.Values,
		Waveform: (*wire.Waveform)(r.Waveform)}
	return wire.AppendReading(dst, &v, r.ValuesJSON)
}

// appendPredictionValue appends the edgepm.predictions value of b's
// prediction i, made at now, to dst (wire.AppendPrediction).
func appendPredictionValue(dst []byte, gateway string, b *inference.Batch, i int, now time.Time) []byte {
	name, version := b.Model(i)
	p := wire.Prediction{Gateway: gateway, Device: b.Device(i), Model: name, ModelVersion: version,
		WindowEnd: unixMs(b.WindowEnd(i)), TS: unixMs(now), Score: b.Score(i), Outputs: b.Outputs(i),
		FeatureHash: b.FeatureHash(i)}
	return wire.AppendPrediction(dst, &p)
}

// alertValue is the edgepm.alerts value (and local MQTT alert) of al.
func (a *App) alertValue(al *inference.AlertEvent) wire.Alert {
	return wire.Alert{V: wire.Version, Gateway: a.cfg.GatewayID, Device: al.Device, Model: al.Model,
		ModelVersion: al.ModelVersion, State: al.State, Score: al.Score, Threshold: al.Threshold, TS: unixMs(al.Time)}
}

func unixMs(t time.Time) int64 { return wire.UnixMs(t) }

func mustJSON(v any) []byte { return wire.MustJSON(v) }

// withEventReports makes the queue report its drops and the recovery of an
// unusable file as buffer.dropped and buffer.recovered events of gateway,
// committed by the queue itself (buffer.Options.OnDrop, OnRecover), and lets
// the salvage of an unreadable file tell edgepm's records' streams apart
// (buffer.Options.StreamOf).
func withEventReports(o buffer.Options, gateway string) buffer.Options {
	o.StreamOf = wire.StreamOf
	o.OnDrop = func(r buffer.DropReport) (buffer.Record, bool) { return wire.DroppedEvent(gateway, r), true }
	o.OnRecover = func(r buffer.RecoveryReport) (buffer.Record, bool) { return wire.RecoveredEvent(gateway, r), true }
	return o
}
