package wire

import "time"

// HeartbeatSchema is the version of the gateways topic's value (Heartbeat.V).
// It is versioned on its own: additive changes keep it.
const HeartbeatSchema = 1

// Heartbeat is the value of a record on the compacted gateways topic
// (default edgepm.gateways), key = gateway id: the gateway's state, written
// every fleet.heartbeat_interval. A null value (tombstone, written by
// `edgepm decommission`) removes the gateway from the fleet.
// See docs/formats/gateways.md.
type Heartbeat struct {
	V       int       `json:"v"` // HeartbeatSchema
	Gateway string    `json:"gateway"`
	TS      time.Time `json:"ts"` // when the snapshot was taken
	// IntervalSeconds is the heartbeat interval: a reader calls the gateway
	// stale after 3 intervals without a newer heartbeat.
	IntervalSeconds float64          `json:"interval_s"`
	Version         string           `json:"version"` // edgepm build version
	StartedAt       time.Time        `json:"started_at"`
	UptimeSeconds   float64          `json:"uptime_s"`
	Ready           bool             `json:"ready"`
	Model           *HeartbeatModel  `json:"model,omitempty"`  // served model
	Shadow          *HeartbeatShadow `json:"shadow,omitempty"` // challenger, when one is scored
	Uplink          HeartbeatUplink  `json:"uplink"`
	Buffer          HeartbeatBuffer  `json:"buffer"`
	AlertsActive    int              `json:"alerts_active"`
	Devices         int              `json:"devices"`
	Ingest          HeartbeatIngest  `json:"ingest"`
	Drift           *HeartbeatDrift  `json:"drift,omitempty"`
	// Conditions are the reasons the gateway is not healthy (the /readyz
	// and /api/status conditions), empty when healthy.
	Conditions []string `json:"conditions"`
	// Stopped marks the last heartbeat of a clean shutdown, written after
	// the pipeline drained: the gateway is stopped, not lost. The next
	// heartbeat (a restart) supersedes it.
	Stopped bool `json:"stopped,omitempty"`
}

// HeartbeatModel is the model a gateway serves.
type HeartbeatModel struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// State is the watcher's state of the served name (active, waiting_chunks,
	// rejected, ...; "builtin" for the start-up model).
	State       string     `json:"state"`
	KeyID       string     `json:"key_id,omitempty"`
	Counter     uint64     `json:"release_counter,omitempty"` // highest release accepted
	Rollout     string     `json:"rollout,omitempty"`
	Rejected    string     `json:"rejected,omitempty"` // version last rejected
	LastError   string     `json:"last_error,omitempty"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
}

// HeartbeatShadow is the challenger scored in shadow and how it compares
// with the served model on the same windows since it was loaded.
type HeartbeatShadow struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	State   string `json:"state"`   // active, waiting_chunks, rejected
	Windows uint64 `json:"windows"` // scored by both
	Dropped uint64 `json:"dropped"` // shadow work dropped under load
	// AlertAgreement is the share of windows on which both models' alert
	// decision (score against threshold) agreed, 0..1; absent before the first window.
	AlertAgreement *float64 `json:"alert_agreement,omitempty"`
	MeanAbsDiff    *float64 `json:"mean_abs_diff,omitempty"`
}

// HeartbeatUplink is the Kafka side.
type HeartbeatUplink struct {
	State            string  `json:"state"` // connecting, online, offline
	BacklogRecords   int64   `json:"backlog_records"`
	BacklogOldestAge float64 `json:"backlog_oldest_age_s"`
}

// HeartbeatBuffer is the on-disk buffer.
type HeartbeatBuffer struct {
	Bytes    int64  `json:"bytes"`
	MaxBytes int64  `json:"max_bytes"`
	Dropped  uint64 `json:"dropped"` // records dropped by caps and TTL, across restarts
}

// HeartbeatIngest is the MQTT side, as rates over the last interval.
type HeartbeatIngest struct {
	Connected      bool    `json:"connected"`
	ReadingsPerSec float64 `json:"readings_per_s"`
	InvalidPerSec  float64 `json:"invalid_per_s"`
	SeqMissing     uint64  `json:"seq_missing"` // readings lost upstream, since start
}

// HeartbeatDrift summarises feature drift of the served model.
type HeartbeatDrift struct {
	Drifting int      `json:"drifting"`           // features out of their training distribution
	Features []string `json:"features,omitempty"` // at most 8 names
	MaxScore float64  `json:"max_score"`          // the largest mean shift, in training stds
	MaxPSI   float64  `json:"max_psi,omitempty"`  // the largest PSI against the training histograms (models that have them)
}
