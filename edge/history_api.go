package edge

import (
	"math"
	"time"
)

// HistoryVersion is the format version of /api/history ("v").
const HistoryVersion = 1

// History is the appliance's last hour as GET /api/history serves it
// (docs/formats/status.md, "History"; docs/schemas/history.schema.json).
// The samples are columns, oldest first, all of the same length.
type History struct {
	V              int            `json:"v"`
	Gateway        string         `json:"gateway"`
	Time           time.Time      `json:"time"`
	StepSeconds    float64        `json:"step_s"`
	BufferMaxBytes int64          `json:"buffer_max_bytes"`
	Samples        HistorySamples `json:"samples"`
	Alerts         []HistoryAlert `json:"alerts"`  // the last 100 transitions, oldest first
	Devices        []DeviceScores `json:"devices"` // each kept device's latest scores
}

// HistorySamples are the sampled series, one entry per step.
type HistorySamples struct {
	Time              []int64   `json:"time"` // Unix seconds
	ReadingsPerSec    []float64 `json:"readings_per_s"`
	PredictionsPerSec []float64 `json:"predictions_per_s"`
	InvalidPerSec     []float64 `json:"invalid_per_s"`
	BacklogRecords    []int64   `json:"backlog_records"`
	BacklogOldestAgeS []float64 `json:"backlog_oldest_age_s"`
	BufferBytes       []int64   `json:"buffer_bytes"`
	UplinkState       []string  `json:"uplink_state"`
}

// HistoryAlert is one alert transition.
type HistoryAlert struct {
	Device    string    `json:"device"`
	State     string    `json:"state"` // raised or cleared
	Score     *float64  `json:"score,omitempty"`
	Threshold *float64  `json:"threshold,omitempty"`
	Time      time.Time `json:"time"`
}

// History returns the recent history. Safe for concurrent use; O(samples
// + devices).
func (a *App) History() History {
	samples, alerts := a.hist.snapshot()
	h := History{V: HistoryVersion, Gateway: a.cfg.GatewayID, Time: time.Now().UTC(),
		StepSeconds: historyStep.Seconds(), BufferMaxBytes: a.queue.Stats().MaxBytes,
		Samples: columns(samples), Alerts: make([]HistoryAlert, 0, len(alerts)), Devices: a.devices.sparklines()}
	for _, al := range alerts {
		h.Alerts = append(h.Alerts, HistoryAlert{Device: al.device, State: al.state,
			Score: finitePtr(al.score), Threshold: finitePtr(al.threshold), Time: al.t.UTC()})
	}
	return h
}

func columns(samples []sample) HistorySamples {
	n := len(samples)
	c := HistorySamples{Time: make([]int64, 0, n), ReadingsPerSec: make([]float64, 0, n),
		PredictionsPerSec: make([]float64, 0, n), InvalidPerSec: make([]float64, 0, n),
		BacklogRecords: make([]int64, 0, n), BacklogOldestAgeS: make([]float64, 0, n),
		BufferBytes: make([]int64, 0, n), UplinkState: make([]string, 0, n)}
	for _, s := range samples {
		c.Time = append(c.Time, s.t.Unix())
		c.ReadingsPerSec = append(c.ReadingsPerSec, s.readings)
		c.PredictionsPerSec = append(c.PredictionsPerSec, s.predictions)
		c.InvalidPerSec = append(c.InvalidPerSec, s.invalid)
		c.BacklogRecords = append(c.BacklogRecords, s.backlogRecords)
		c.BacklogOldestAgeS = append(c.BacklogOldestAgeS, s.backlogAge.Seconds())
		c.BufferBytes = append(c.BufferBytes, s.bufferBytes)
		c.UplinkState = append(c.UplinkState, s.uplink)
	}
	return c
}

// finitePtr is v, or nil for NaN and ±Inf (which JSON cannot carry).
func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// gauges reads what the history sampler records.
func (a *App) gauges() gauges {
	up := a.producer.Status()
	return gauges{readings: a.rates.readings.Load(), predictions: a.rates.predictions.Load(),
		invalid: a.hist.invalid.Load(), backlogRecords: up.Backlog.Records, backlogAge: up.Backlog.OldestAge,
		bufferBytes: a.queue.Stats().Bytes, uplink: up.State}
}
