package edge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/edge/ingest"
)

// Status is the appliance's state as /api/status and `edgepm status` show it.
type Status struct {
	Gateway       string               `json:"gateway"`
	Version       string               `json:"version"`
	UptimeSeconds float64              `json:"uptime_s"`
	Ready         bool                 `json:"ready"`
	Conditions    []string             `json:"conditions"` // what keeps the data path from being ready
	Warnings      []string             `json:"warnings"`   // worth a look, but the data path works
	MQTT          MQTTStatus           `json:"mqtt"`
	Uplink        bridge.Status        `json:"uplink"`
	BufferRecords int64                `json:"buffer_records"`
	BufferBytes   int64                `json:"buffer_bytes"`
	Buffer        any                  `json:"buffer"`
	Model         ModelStatus          `json:"model"`
	Models        []bridge.ModelStatus `json:"models"` // what the models topic offers this gateway
	Rates         Rates                `json:"rates"`
	Devices       []DeviceStatus       `json:"devices"`
	ActiveAlerts  int                  `json:"active_alerts"`
}

// MQTTStatus is the ingest side's state.
type MQTTStatus struct {
	Connected bool   `json:"connected"`
	Broker    string `json:"broker"`
	Unacked   int    `json:"unacked"`
	// OldestUnackedSeconds is how long the oldest message being committed
	// has waited (0 when none is).
	OldestUnackedSeconds float64 `json:"oldest_unacked_s"`
}

// ModelStatus names the serving model.
type ModelStatus struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Loaded  bool   `json:"loaded"`
	// Raise and Clear are the alert thresholds in force; ThresholdsOverridden
	// says they come from inference.thresholds rather than the manifest.
	Raise                float64 `json:"raise"`
	Clear                float64 `json:"clear"`
	ThresholdsOverridden bool    `json:"thresholds_overridden"`
}

// Rates are per-second rates over the last few seconds.
type Rates struct {
	ReadingsPerSec    float64 `json:"readings_per_s"`
	PredictionsPerSec float64 `json:"predictions_per_s"`
}

// DeviceStatus is one machine's latest state.
type DeviceStatus struct {
	Device   string    `json:"device"`
	LastSeen time.Time `json:"last_seen"`
	Score    *float64  `json:"score"`
	Alert    bool      `json:"alert"`
	Stuck    []string  `json:"stuck,omitempty"` // sensors flagged stuck (validation.stuck_after)
}

// Status gathers the current state. Safe for concurrent use.
func (a *App) Status() Status {
	st := Status{Gateway: a.cfg.GatewayID, Version: Version, UptimeSeconds: time.Since(a.started).Seconds()}
	st.MQTT = MQTTStatus{Connected: a.mqtt.Connected(), Broker: ingest.RedactURL(a.cfg.MQTT.Broker), Unacked: a.mqtt.Queued()}
	if since := a.pipeline.OldestUnacked(); !since.IsZero() {
		st.MQTT.OldestUnackedSeconds = time.Since(since).Seconds()
	}
	st.Uplink = a.producer.Status()
	bs := a.queue.Stats()
	st.Buffer = bs
	for _, ss := range bs.Streams {
		st.BufferRecords += ss.Records
	}
	st.BufferBytes = bs.Bytes
	if n, v, ok := a.engine.Active(); ok {
		st.Model = ModelStatus{Name: n, Version: v, Loaded: true}
		if th, over, ok := a.engine.Thresholds(); ok {
			st.Model.Raise, st.Model.Clear, st.Model.ThresholdsOverridden = th.Raise, th.Clear, over
		}
	}
	st.Models = a.watcher.Models()
	st.Rates = Rates{ReadingsPerSec: a.rates.readingRate(), PredictionsPerSec: a.rates.predictionRate()}
	st.Devices, st.ActiveAlerts = a.devices.snapshot()
	st.Conditions = a.conditions(st)
	for _, c := range bs.Conditions {
		msg := "buffer: " + c.Name + ": " + c.Message
		if c.Name == buffer.CondWriteFailed || c.Name == buffer.CondFull {
			st.Conditions = append(st.Conditions, msg)
		} else {
			st.Warnings = append(st.Warnings, msg)
		}
	}
	st.Ready = a.ready.Load() && len(st.Conditions) == 0
	return st
}

// unackedLimit is how long a received message may wait for its commit
// before /readyz reports the data path as not ready.
const unackedLimit = 10 * time.Second

// conditions lists what keeps the data path from being healthy.
func (a *App) conditions(st Status) []string {
	var c []string
	if !st.MQTT.Connected {
		c = append(c, "mqtt: not connected to "+ingest.RedactURL(a.cfg.MQTT.Broker))
	}
	if !st.Model.Loaded {
		c = append(c, "inference: no model loaded")
	}
	c = append(c, st.Uplink.Conditions()...) // streams Kafka does not take, by topic
	if age := time.Since(a.ingestAlive()); a.ready.Load() && age > 30*time.Second {
		c = append(c, "ingest: no commit progress for "+age.Round(time.Second).String())
	}
	if since := a.pipeline.OldestUnacked(); !since.IsZero() {
		if age := time.Since(since); age > unackedLimit {
			c = append(c, "ingest: oldest unacknowledged message has waited "+age.Round(time.Second).String()+" for the buffer")
		}
	}
	return c
}

// rateMeter turns counters into per-second rates (exponentially smoothed
// over ~5 s), updated once a second.
type rateMeter struct {
	readings, predictions atomic.Int64
	mu                    sync.Mutex
	rRate, pRate          float64
}

func newRateMeter() *rateMeter { return &rateMeter{} }

func (r *rateMeter) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastR, lastP int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		nr, np := r.readings.Load(), r.predictions.Load()
		r.mu.Lock()
		r.rRate = 0.7*r.rRate + 0.3*float64(nr-lastR)
		r.pRate = 0.7*r.pRate + 0.3*float64(np-lastP)
		r.mu.Unlock()
		lastR, lastP = nr, np
	}
}

func (r *rateMeter) readingRate() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rRate
}

func (r *rateMeter) predictionRate() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pRate
}
