package edge

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/internal/wire"
)

// maxDriftNames bounds the names of drifting features a heartbeat carries
// (inference.FeatureDrift.Drifting).
const maxDriftNames = 8

// heartbeatWait bounds a heartbeat's buffer append: a heartbeat that finds
// no room in time is counted and skipped, the next one follows.
const heartbeatWait = 5 * time.Second

// heartbeatCounters are the counters at the previous heartbeat, for rates
// over the last interval. heartbeatLoop's goroutine only.
type heartbeatCounters struct {
	at                time.Time
	readings, invalid int64
}

// heartbeatLoop writes the gateway's state to the gateways stream at once
// and then every interval, until ctx ends. Run waits for it before the
// shutdown closes the buffer.
func (a *App) heartbeatLoop(ctx context.Context, interval time.Duration) {
	a.hbLast = heartbeatCounters{at: a.started}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		a.writeHeartbeat(ctx, interval, &a.hbLast, false)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// writeHeartbeat appends one heartbeat, the stopped one of a clean
// shutdown when stopped, and returns it as buffered (nil when it was not:
// the failure is counted and logged, and the next heartbeat carries the
// state anyway).
func (a *App) writeHeartbeat(ctx context.Context, interval time.Duration, last *heartbeatCounters, stopped bool) *buffer.Record {
	hb := a.heartbeat(time.Now(), interval, last)
	hb.Stopped = stopped
	rec, err := wire.HeartbeatRecord(&hb)
	if err != nil {
		a.m.encodeErrors.WithLabelValues("heartbeat").Inc()
		a.log.Error("heartbeat not written", "err", err)
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, heartbeatWait)
	defer cancel()
	recs := []buffer.Record{rec}
	if err := a.queue.Append(actx, recs); err != nil {
		a.m.dropped.WithLabelValues(wire.StreamGateways, "not_committed").Inc()
		a.log.Warn("heartbeat not buffered", "err", err)
		return nil
	}
	a.m.heartbeats.Inc()
	return &recs[0]
}

// heartbeat is the gateway's state at now, as /api/status computes it, with
// ingest rates since the previous heartbeat (last, updated). It takes no
// snapshot of the devices' states, only their count.
func (a *App) heartbeat(now time.Time, interval time.Duration, last *heartbeatCounters) wire.Heartbeat {
	up, bs := a.producer.Status(), a.queue.Stats()
	conditions, _, ready := a.health(now, up, bs)
	ms, models := a.modelStatus(), a.watcher.Models()
	hb := wire.Heartbeat{V: wire.HeartbeatSchema, Gateway: a.cfg.GatewayID, TS: now.UTC(),
		IntervalSeconds: interval.Seconds(), Version: Version, StartedAt: a.started.UTC(),
		UptimeSeconds: now.Sub(a.started).Seconds(), Ready: ready, Conditions: conditions,
		Model: heartbeatModel(ms, models), Shadow: heartbeatShadow(a.engine.ShadowStats(), ms.Name, models),
		Drift: heartbeatDrift(a.engine),
		Uplink: wire.HeartbeatUplink{State: up.State, BacklogRecords: up.Backlog.Records,
			BacklogOldestAge: up.Backlog.OldestAge.Seconds()},
		Buffer:       wire.HeartbeatBuffer{Bytes: bs.Bytes, MaxBytes: bs.MaxBytes, Dropped: bufferDropped(bs)},
		AlertsActive: a.devices.alerting(), Devices: a.devices.len(),
	}
	hb.Ingest = a.heartbeatIngest(now, last)
	return hb
}

// heartbeatIngest is the MQTT side with rates since last (then updated).
func (a *App) heartbeatIngest(now time.Time, last *heartbeatCounters) wire.HeartbeatIngest {
	readings, invalid := a.rates.readings.Load(), a.hist.invalid.Load()
	in := wire.HeartbeatIngest{Connected: a.mqtt.Connected(), SeqMissing: a.devices.lossTotals().missing}
	if secs := now.Sub(last.at).Seconds(); secs > 0 {
		in.ReadingsPerSec = float64(readings-last.readings) / secs
		in.InvalidPerSec = float64(invalid-last.invalid) / secs
	}
	*last = heartbeatCounters{at: now, readings: readings, invalid: invalid}
	return in
}

// heartbeatModel is the served model of ms, with the model watcher's state
// of its name ("builtin" when the watcher has none: the start-up model);
// nil when no model is loaded.
func heartbeatModel(ms ModelStatus, models []bridge.ModelStatus) *wire.HeartbeatModel {
	if !ms.Loaded {
		return nil
	}
	hm := &wire.HeartbeatModel{Name: ms.Name, Version: ms.Version, State: "builtin", KeyID: ms.KeyID,
		ActivatedAt: ms.ActivatedAt}
	for _, m := range models {
		if m.Name == ms.Name && (m.Active == ms.Version || m.Active == "") {
			hm.State, hm.Rejected, hm.LastError = m.State, m.Rejected, m.LastError
			hm.Counter, hm.Rollout = m.ReleaseCounter, m.Rollout
		}
	}
	return hm
}

// heartbeatShadow is the challenger the engine scores in shadow and its
// comparison with the served model (absent before the first window both
// scored). While the release of the served name names a shadow the engine
// does not score yet (being received, rejected), it is that version with
// the watcher's shadow state; nil when there is no shadow at all.
func heartbeatShadow(st *inference.ShadowStats, served string, models []bridge.ModelStatus) *wire.HeartbeatShadow {
	var wanted *bridge.ModelStatus
	for i := range models {
		if models[i].Name == served && models[i].Shadow != "" {
			wanted = &models[i]
		}
	}
	if st == nil || wanted != nil && wanted.Shadow != st.Version {
		if wanted == nil {
			return nil
		}
		return &wire.HeartbeatShadow{Name: wanted.Name, Version: wanted.Shadow, State: wanted.ShadowState}
	}
	hs := &wire.HeartbeatShadow{Name: st.Name, Version: st.Version, State: "active", Windows: st.Windows, Dropped: st.Dropped}
	if st.Windows > 0 {
		hs.AlertAgreement, hs.MeanAbsDiff = finitePtr(st.AlertAgreement), finitePtr(st.MeanAbsDiff)
	}
	return hs
}

// heartbeatDrift summarises the served model's drift: how many features
// are past a drift mark (inference.FeatureDrift.Drifting: mean moved more
// than 3 training stds, since loading or over the last drift interval, or
// PSI since loading above 0.5), the names of the worst (at most
// maxDriftNames) and the highest mean shift and PSI; nil before the first
// scored row.
func heartbeatDrift(eng *inference.Engine) *wire.HeartbeatDrift {
	r, ok := eng.Drift()
	if !ok {
		return nil
	}
	return driftOf(r)
}

// driftOf is heartbeatDrift of the report r.
func driftOf(r inference.DriftReport) *wire.HeartbeatDrift {
	if r.Rows == 0 {
		return nil
	}
	feats := slices.DeleteFunc(slices.Clone(r.Features), func(f inference.FeatureDrift) bool {
		return math.IsNaN(f.Level()) || math.IsInf(f.Level(), 0)
	})
	sortByDrift(feats)
	d := &wire.HeartbeatDrift{}
	for _, f := range feats {
		d.MaxScore = max(d.MaxScore, f.Worst())
		d.MaxPSI = max(d.MaxPSI, f.PSI)
		if f.Drifting() {
			d.Drifting++
			if len(d.Features) < maxDriftNames {
				d.Features = append(d.Features, f.Feature)
			}
		}
	}
	return d
}

// bufferDropped is the records dropped by caps and TTL, every stream,
// across restarts.
func bufferDropped(bs buffer.Stats) uint64 {
	var n uint64
	for _, s := range bs.Streams {
		n += s.Dropped
	}
	return n
}

// alerting returns how many devices are in alert, without a snapshot.
func (t *deviceTable) alerting() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	t.reg.Each(func(_ string, d *deviceState) bool {
		if d.alert {
			n++
		}
		return true
	})
	return n
}

// heartbeats runs heartbeatLoop when heartbeats are on (fleet config).
func (a *App) heartbeats(ctx context.Context) {
	if d := a.cfg.Fleet.heartbeatInterval(); d > 0 {
		a.heartbeatLoop(ctx, d)
	}
}

// stoppedHeartbeat buffers the last heartbeat of a clean shutdown
// (stopped: true), so the fleet shows the gateway stopped rather than,
// three intervals later, stale, and returns it (nil when heartbeats are
// off or it was not buffered). The shutdown calls it after heartbeatLoop
// ended and the pipeline drained, and sends it with sendStopped once the
// bridge has stopped.
func (a *App) stoppedHeartbeat() *buffer.Record {
	d := a.cfg.Fleet.heartbeatInterval()
	if d <= 0 {
		return nil
	}
	if a.hbLast.at.IsZero() {
		a.hbLast.at = a.started
	}
	return a.writeHeartbeat(context.Background(), d, &a.hbLast, true)
}

// stoppedSendWait bounds the direct send of the stopped heartbeat at
// shutdown.
const stoppedSendWait = 2 * time.Second

// sendStopped produces the stopped heartbeat rec directly when Kafka is
// online: the bridge may have stopped reading the buffer before it was
// written. When the bridge delivered it already, nothing is sent twice;
// after a direct send its buffered copy is deleted (bridge.Producer.SendNow).
// Offline, or when the send fails, the buffered copy goes at the next start.
func (a *App) sendStopped(rec *buffer.Record) {
	if rec == nil || !a.producer.Status().Online {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stoppedSendWait)
	defer cancel()
	if err := a.producer.SendNow(ctx, rec); err != nil {
		a.log.Warn("stopped heartbeat not sent; it is sent at the next start", "err", err)
	}
}
