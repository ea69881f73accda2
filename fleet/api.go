package fleet

import "time"

// APIVersion is the version of the /api/fleet document (Fleet.V),
// docs/formats/fleet-api.md. Additive changes keep it.
const APIVersion = 1

// Fleet is the view at one moment: the /api/fleet document and what
// `edgepm fleet status --json` prints.
type Fleet struct {
	V    int       `json:"v"` // APIVersion
	Time time.Time `json:"time"`
	// CaughtUp is false until the gateways and models topics were read to
	// the end offsets they had when the reader started.
	CaughtUp bool         `json:"caught_up"`
	Gateways []Gateway    `json:"gateways"` // sorted by id
	Models   []ModelUsage `json:"models"`   // sorted by name
	Rollouts []Rollout    `json:"rollouts"` // sorted by model name
	Recent   []Recent     `json:"recent"`   // newest first, at most RecentMax
	Counts   Counts       `json:"counts"`
}

// Gateway is one gateway's last heartbeat and what the view makes of it.
type Gateway struct {
	ID         string    `json:"id"`
	LastSeen   time.Time `json:"last_seen"` // the heartbeat record's time
	AgeSeconds float64   `json:"age_s"`     // Time - LastSeen
	IntervalS  float64   `json:"interval_s"`
	Stale      bool      `json:"stale"` // AgeSeconds > StaleAfter × IntervalS, and not Stopped
	// Stopped: the last heartbeat was the one a gateway writes when it
	// stops cleanly (systemctl stop, a package upgrade); never stale.
	Stopped bool    `json:"stopped"`
	Version string  `json:"version"`
	Ready   bool    `json:"ready"`
	UptimeS float64 `json:"uptime_s"`
	// Model and Shadow are absent when the gateway serves (or shadows) none.
	Model             *Model   `json:"model,omitempty"`
	Shadow            *Shadow  `json:"shadow,omitempty"`
	Uplink            string   `json:"uplink"`
	BacklogRecords    int64    `json:"backlog_records"`
	BacklogOldestAgeS float64  `json:"backlog_oldest_age_s"`
	BufferBytes       int64    `json:"buffer_bytes"`
	BufferMaxBytes    int64    `json:"buffer_max_bytes"`
	BufferDropped     uint64   `json:"buffer_dropped"`
	AlertsActive      int      `json:"alerts_active"`
	Devices           int      `json:"devices"`
	ReadingsPerS      float64  `json:"readings_per_s"`
	InvalidPerS       float64  `json:"invalid_per_s"`
	Drifting          int      `json:"drifting"`
	Conditions        []string `json:"conditions"`
}

// Model is the model a gateway serves.
type Model struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	State     string `json:"state"`
	Counter   uint64 `json:"release_counter,omitempty"`
	Rollout   string `json:"rollout,omitempty"`
	Rejected  string `json:"rejected,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// Shadow is the challenger a gateway scores beside the served model.
type Shadow struct {
	Name           string   `json:"name"`
	Version        string   `json:"version"`
	State          string   `json:"state"`
	Windows        uint64   `json:"windows"`
	Dropped        uint64   `json:"dropped"`
	AlertAgreement *float64 `json:"alert_agreement,omitempty"`
	MeanAbsDiff    *float64 `json:"mean_abs_diff,omitempty"`
}

// ModelUsage is how many gateways serve each version of one model, from
// their heartbeats.
type ModelUsage struct {
	Name     string         `json:"name"`
	Versions []VersionCount `json:"versions"` // most gateways first
	Shadows  []VersionCount `json:"shadows"`  // challengers scored in shadow
}

// VersionCount is the number of gateways on one version (Stale of them
// without a recent heartbeat).
type VersionCount struct {
	Version  string `json:"version"`
	Gateways int    `json:"gateways"`
	Stale    int    `json:"stale"`
}

// Rollout is the release the latest pointer of a model carries
// (bridge.Release) and its progress across the gateways that serve the
// model.
type Rollout struct {
	Model   string    `json:"model"`
	ID      string    `json:"id,omitempty"` // Release.Rollout
	Action  string    `json:"action"`
	Version string    `json:"version"`
	Stable  string    `json:"stable,omitempty"`
	Shadow  string    `json:"shadow,omitempty"`
	Canary  []string  `json:"canary"` // ids and globs
	Counter uint64    `json:"counter"`
	Issued  time.Time `json:"issued"`
	Reason  string    `json:"reason,omitempty"`
	// Targets are the gateways serving the model that the release moves to
	// Version; Updated of them report it active, Rejected report it
	// rejected; State is done, in_progress or failing.
	Targets  int    `json:"targets"`
	Updated  int    `json:"updated"`
	Rejected int    `json:"rejected"`
	State    string `json:"state"`
}

// Recent is an alert (from the alerts topic) or an event (from the events
// topic) of any gateway.
type Recent struct {
	Time    time.Time `json:"time"`
	Gateway string    `json:"gateway"`
	// Type is alert.raised or alert.cleared for alerts, else the event type
	// (model.activated, model.rejected, ...).
	Type    string   `json:"type"`
	Device  string   `json:"device,omitempty"`
	Model   string   `json:"model,omitempty"` // name:version
	Score   *float64 `json:"score,omitempty"`
	Summary string   `json:"summary,omitempty"` // the event's detail, short
}

// Counts are totals over the view.
type Counts struct {
	Gateways     int    `json:"gateways"`
	Stale        int    `json:"stale"`
	Stopped      int    `json:"stopped"` // stopped cleanly (Gateway.Stopped)
	AlertsActive int    `json:"alerts_active"`
	BadRecords   uint64 `json:"bad_records"` // undecodable records ignored
	Refused      uint64 `json:"refused"`     // gateways not kept: MaxGateways reached
}
