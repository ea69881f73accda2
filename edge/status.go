package edge

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// StatusVersion is the version of the /api/status document
// (docs/formats/status.md, docs/schemas/status.schema.json).
const StatusVersion = 2

// Status is the appliance's state as /api/status and `edgepm status` show
// it: snake_case names, [] rather than null, durations in seconds (_s),
// absent times and unknown values omitted.
type Status struct {
	V             int                  `json:"v"` // StatusVersion
	Gateway       string               `json:"gateway"`
	Version       string               `json:"version"`
	Time          time.Time            `json:"time"` // the gateway's clock when the snapshot was taken
	UptimeSeconds float64              `json:"uptime_s"`
	Ready         bool                 `json:"ready"`
	Conditions    []string             `json:"conditions"` // what keeps the data path from being ready
	Warnings      []string             `json:"warnings"`   // worth a look, but the data path works
	MQTT          MQTTStatus           `json:"mqtt"`
	Ingest        IngestStatus         `json:"ingest"`
	Uplink        UplinkStatus         `json:"uplink"`
	Buffer        BufferStatus         `json:"buffer"`
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

// ModelStatus is the model card of the serving model.
type ModelStatus struct {
	Loaded  bool   `json:"loaded"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// Semantics is the manifest's output_semantics (failure_probability,
	// remaining_useful_life_s, ...); AlertWhen says which side of the
	// thresholds alerts: "above" (probabilities) or "below" (remaining life).
	Semantics string `json:"semantics,omitempty"`
	AlertWhen string `json:"alert_when,omitempty"`
	// Raise and Clear are the alert thresholds in force; ThresholdsOverridden
	// says they come from inference.thresholds rather than the manifest.
	Raise                float64 `json:"raise"`
	Clear                float64 `json:"clear"`
	ThresholdsOverridden bool    `json:"thresholds_overridden"`
	// KeyID names the key the package's signature verified with
	// (modelpkg.KeyID); absent for an unsigned package (the embedded default).
	KeyID         string        `json:"key_id,omitempty"`
	ActivatedAt   *time.Time    `json:"activated_at,omitempty"`
	Drift         *DriftSummary `json:"drift,omitempty"`
	Shadow        *ShadowStatus `json:"shadow,omitempty"` // absent when no shadow model is scored
	LastRejection *Rejection    `json:"last_rejection,omitempty"`
}

// DriftSummary is the serving model's input drift against its training
// statistics since it was loaded: the features that moved most.
type DriftSummary struct {
	Rows  int64          `json:"rows"`
	Since time.Time      `json:"since"`
	Top   []FeatureDrift `json:"top"` // at most 5, largest score first
}

// FeatureDrift is one feature's drift score (see inference.FeatureDrift).
type FeatureDrift struct {
	Feature string   `json:"feature"`
	Score   float64  `json:"score"`
	PSI     *float64 `json:"psi,omitempty"` // absent when the model has no training histogram for it
}

// Rejection is the last model package this gateway refused.
type Rejection struct {
	Model   string     `json:"model"`
	Version string     `json:"version"`
	Reason  string     `json:"reason"`
	Time    *time.Time `json:"time,omitempty"`
}

// Rates are per-second rates over the last few seconds.
type Rates struct {
	ReadingsPerSec    float64 `json:"readings_per_s"`
	PredictionsPerSec float64 `json:"predictions_per_s"`
}

// DeviceStatus is one machine's latest state.
type DeviceStatus struct {
	Device     string     `json:"device"`
	LastSeen   time.Time  `json:"last_seen"`
	Score      *float64   `json:"score,omitempty"` // absent until the device's first prediction
	Alert      bool       `json:"alert"`
	AlertSince *time.Time `json:"alert_since,omitempty"` // the raising window's time, while Alert
	Stuck      []string   `json:"stuck"`                 // sensors flagged stuck (validation.stuck_after)
	// Upstream loss seen in the device's payload seq counter while the
	// gateway kept it (omitted while 0).
	SeqGaps    uint64 `json:"seq_gaps,omitempty"`
	SeqMissing uint64 `json:"seq_missing,omitempty"`
	SeqResets  uint64 `json:"seq_resets,omitempty"`
	// Offline is true after a Sparkplug death (NDEATH, DDEATH) until the
	// next birth; always false for other formats.
	Offline bool `json:"offline"`
}

// Status gathers the current state. Safe for concurrent use.
func (a *App) Status() Status {
	now := time.Now()
	st := Status{V: StatusVersion, Gateway: a.cfg.GatewayID, Version: Version, Time: now.UTC(),
		UptimeSeconds: now.Sub(a.started).Seconds()}
	st.MQTT = MQTTStatus{Connected: a.mqtt.Connected(), Broker: ingest.RedactURL(a.cfg.MQTT.Broker), Unacked: a.mqtt.Queued()}
	if since := a.pipeline.OldestUnacked(); !since.IsZero() {
		st.MQTT.OldestUnackedSeconds = now.Sub(since).Seconds()
	}
	st.Ingest = a.ingestStatus()
	up := a.producer.Status()
	st.Uplink = uplinkStatus(up)
	bs := a.queue.Stats()
	st.Buffer = bufferStatus(bs)
	st.Model = a.modelStatus()
	st.Models = nonNil(a.watcher.Models())
	st.Model.LastRejection = lastRejection(st.Models)
	st.Rates = Rates{ReadingsPerSec: a.rates.readingRate(), PredictionsPerSec: a.rates.predictionRate()}
	st.Devices, st.ActiveAlerts = a.devices.snapshot()
	st.Conditions, st.Warnings, st.Ready = a.health(now, up, bs)
	return st
}

// readiness is what /readyz and edgepm_ready report. Unlike Status it
// takes no snapshot of the devices, so a probe costs the same whatever
// their number. Safe for concurrent use.
func (a *App) readiness() (ready bool, conditions []string) {
	conditions, _, ready = a.health(time.Now(), a.producer.Status(), a.queue.Stats())
	return ready, conditions
}

// health returns the conditions that keep the data path from working, the
// warnings worth a look, and whether the appliance is ready (started and
// no condition), from the uplink and buffer snapshots up and bs.
func (a *App) health(now time.Time, up bridge.Status, bs buffer.Stats) (conditions, warnings []string, ready bool) {
	conditions = nonNil(a.conditions(up))
	warnings = nonNil(a.ingestWarnings(now))
	for _, c := range bs.Conditions {
		msg := "buffer: " + c.Name + ": " + c.Message
		if c.Name == buffer.CondWriteFailed || c.Name == buffer.CondFull {
			conditions = append(conditions, msg)
		} else {
			warnings = append(warnings, msg)
		}
	}
	return conditions, warnings, a.ready.Load() && len(conditions) == 0
}

// modelStatus is the card of the model being served.
func (a *App) modelStatus() ModelStatus {
	n, v, ok := a.engine.Active()
	if !ok {
		return ModelStatus{}
	}
	m := ModelStatus{Name: n, Version: v, Loaded: true}
	if th, over, ok := a.engine.Thresholds(); ok {
		m.Raise, m.Clear, m.ThresholdsOverridden = th.Raise, th.Clear, over
	}
	if c, ok := a.card.get(n, v); ok {
		m.Semantics, m.KeyID = c.semantics, c.keyID
		at := c.activatedAt
		m.ActivatedAt = &at
		m.AlertWhen = "above"
		if modelpkg.LowIsBad(c.semantics) {
			m.AlertWhen = "below"
		}
	}
	if r, ok := a.engine.Drift(); ok && r.Rows > 0 {
		m.Drift = driftSummary(r)
	}
	m.Shadow = shadowStatus(a.engine.ShadowStats())
	return m
}

func driftSummary(r inference.DriftReport) *DriftSummary {
	feats := slices.Clone(r.Features)
	sortByDrift(feats)
	d := &DriftSummary{Rows: r.Rows, Since: r.Since, Top: []FeatureDrift{}}
	for _, f := range feats[:min(5, len(feats))] {
		if !math.IsNaN(f.Level()) && !math.IsInf(f.Level(), 0) {
			fd := FeatureDrift{Feature: f.Feature, Score: f.Worst()}
			if f.HasHist {
				psi := f.PSI
				fd.PSI = &psi
			}
			d.Top = append(d.Top, fd)
		}
	}
	return d
}

// lastRejection is the most recent rejection among the models the topic
// offers this gateway.
func lastRejection(models []bridge.ModelStatus) *Rejection {
	var last *Rejection
	for _, m := range models {
		if m.Rejected == "" || (last != nil && last.Time != nil && m.RejectedAt != nil && m.RejectedAt.Before(*last.Time)) {
			continue
		}
		last = &Rejection{Model: m.Name, Version: m.Rejected, Reason: m.LastError, Time: m.RejectedAt}
	}
	return last
}

// nonNil returns s, or an empty slice for nil (JSON [] rather than null).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// unackedLimit is how long a received message may wait for its commit
// before /readyz reports the data path as not ready.
const unackedLimit = 10 * time.Second

// conditions lists what keeps the data path from being healthy.
func (a *App) conditions(up bridge.Status) []string {
	var c []string
	if err := a.mqtt.SubscribeErr(); err != nil {
		c = append(c, err.Error()) // connected, but a subscription was refused or not answered
	} else if !a.mqtt.Connected() {
		c = append(c, "mqtt: not connected to "+ingest.RedactURL(a.cfg.MQTT.Broker))
	}
	if _, _, loaded := a.engine.Active(); !loaded {
		c = append(c, "inference: no model loaded")
	}
	c = append(c, up.Conditions()...) // streams Kafka does not take, by topic
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
