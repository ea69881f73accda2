package inference

import (
	"fmt"
	"math"
	"time"
)

// Defaults for EngineConfig zero values. They are also the defaults of the
// inference.* config keys (edge applies them): one source for both.
const (
	DefaultMaxBatch        = 256
	DefaultMaxDelay        = 2 * time.Millisecond
	DefaultQueueSize       = 4096
	DefaultDriftInterval   = time.Hour
	DefaultMaxDevices      = 10000
	DefaultDeviceIdleTTL   = 24 * time.Hour
	DefaultClockResetAfter = 5 * time.Minute
)

// EngineConfig configures an Engine. The zero value is valid: documented
// defaults. Signatures are not the engine's business: see Engine.Load.
type EngineConfig struct {
	// MaxBatch is the most rows scored in one ONNX Runtime call (default 256).
	MaxBatch int
	// MaxDelay is the longest a ready row waits for its batch to fill
	// (default 2ms). Negative means score whatever is queued immediately.
	MaxDelay time.Duration
	// QueueSize bounds ready rows waiting for Run; Observe blocks when it is
	// full (default 4096).
	QueueSize int
	// Gateway is this gateway's id, matched against manifest targeting.
	Gateway string
	// Session configures ONNX Runtime sessions (small-CPU defaults).
	Session SessionConfig
	// IncludeFeatures copies each row's feature vector into Prediction.Features.
	IncludeFeatures bool
	// DriftInterval is how often OnDrift is called (default 1h; <0 disables).
	DriftInterval time.Duration
	// DriftPSIMark is the PSI since loading above which a feature with a
	// training histogram is drifting (FeatureDrift.Drifting; default
	// DefaultDriftPSIMark; negative: PSI is reported but never counts).
	DriftPSIMark float64
	// DriftMinPSIRows is the rows since loading before PSI counts (default
	// DefaultDriftMinPSIRows).
	DriftMinPSIRows int64
	// OnDrift receives drift reports from Run's goroutine; nil = metrics only.
	OnDrift func(DriftReport)
	// MaxDevices bounds the devices whose state (feature window, alert
	// state) the engine keeps (default 10,000). A reading from a new device
	// at the bound evicts the least recently seen device (by the engine
	// clock, Now) rather than being refused: that device's window and alert
	// state are lost (its rows stay in the drift statistics), and it starts
	// afresh if it comes back. Evictions are counted in
	// edgepm_inference_devices_evicted_total. A caller that bounds its
	// devices itself (edgepm's device table) sets the same bound, disables
	// the idle sweep and calls Forget for the devices it evicts, so that
	// only its bound fires (see Forget).
	MaxDevices int
	// DeviceIdleTTL evicts a device not seen for this long (default 24h;
	// <0 disables). Idleness is measured with the engine clock (Now) at
	// Observe, not with reading timestamps, which a device may get wrong.
	// Run sweeps every DeviceIdleTTL/4 (at least 1s, at most 10m), so a
	// device goes at most that much later than its TTL.
	DeviceIdleTTL time.Duration
	// ClockResetAfter restarts a device's window when 3 readings in a row
	// are older than the window's newest sample by more than this (default
	// 5m; <0 never): the device's clock was set back (an RTC reset, an NTP
	// step), and without the restart every reading would be dropped as out
	// of order until the clock caught up again, leaving the device unscored
	// and unalerted meanwhile. Smaller steps back (jitter) and single
	// stragglers (a redelivered message) are dropped as out_of_order.
	// Restarts are counted in edgepm_inference_clock_resets_total and
	// logged (at most every 10s); the device's alert state is kept.
	ClockResetAfter time.Duration
	// Now is the clock (default time.Now); used for latency, drift timing
	// and device idleness.
	Now func() time.Time
	// Scoring selects how Run feeds rows to ONNX Runtime: ScoringFast (the
	// default, "") reads a batch where Observe computed it when it lies in
	// order in one feature slab (see inPlace); ScoringReference always copies
	// the rows into the input tensor. Scores, predictions and alerts are the
	// same either way; the reference path is the plain one to compare with.
	Scoring string
	// ShadowQueue bounds the shadow model's work (LoadShadow): how many
	// scored rows may wait for it (default DefaultShadowQueue, 1024; the
	// shadow takes them all at once and scores them in runs of MaxBatch).
	// Past it, Run drops the shadow's copy of a row, counted in
	// edgepm_inference_shadow_dropped_total, and never waits. The shadow
	// keeps two buffers of ShadowQueue feature vectors.
	ShadowQueue int
	// OnShadow receives each batch of shadow predictions, from the
	// shadow's goroutine (not Run's). The Batch is valid only during the
	// call and has no Alerts. It should return at once: while it runs the
	// shadow scores nothing and its queue fills (then drops), but the
	// served model is never slowed. nil: the shadow only compares.
	OnShadow func(*Batch)
}

// Scoring paths (EngineConfig.Scoring; config key inference.scoring).
const (
	ScoringFast      = "fast"
	ScoringReference = "reference"
)

// SessionConfig holds ONNX Runtime session options. Zero values mean the
// small-CPU defaults: 1 intra-op thread, 1 inter-op thread, no spinning.
type SessionConfig struct {
	IntraOpThreads int  // default 1
	InterOpThreads int  // default 1
	AllowSpinning  bool // default false: idle ORT threads sleep instead of spinning
	// DisableMemArena turns off ORT's CPU memory arena (SetCpuMemArena(false)):
	// less memory held per session, slightly slower runs. Reported as a
	// remedy for memory growth across session reloads.
	DisableMemArena bool
	// Entries are extra session config entries (AddSessionConfigEntry),
	// applied last, e.g. {"session.intra_op.allow_spinning": "1"}.
	Entries map[string]string
}

func (c EngineConfig) withDefaults() EngineConfig {
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.ShadowQueue == 0 {
		c.ShadowQueue = DefaultShadowQueue
	}
	if c.DriftInterval == 0 {
		c.DriftInterval = DefaultDriftInterval
	}
	if c.DriftPSIMark == 0 || math.IsNaN(c.DriftPSIMark) {
		c.DriftPSIMark = DefaultDriftPSIMark
	}
	if c.DriftMinPSIRows <= 0 {
		c.DriftMinPSIRows = DefaultDriftMinPSIRows
	}
	if c.Session.IntraOpThreads == 0 {
		c.Session.IntraOpThreads = 1
	}
	if c.Session.InterOpThreads == 0 {
		c.Session.InterOpThreads = 1
	}
	if c.MaxDevices == 0 {
		c.MaxDevices = DefaultMaxDevices
	}
	if c.ClockResetAfter == 0 {
		c.ClockResetAfter = DefaultClockResetAfter
	}
	if c.DeviceIdleTTL == 0 {
		c.DeviceIdleTTL = DefaultDeviceIdleTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Scoring == "" {
		c.Scoring = ScoringFast
	}
	return c
}

func (c EngineConfig) validate() error {
	switch {
	case c.MaxBatch < 1 || c.MaxBatch > 1<<16:
		return fmt.Errorf("inference.max_batch: must be in [1, 65536], got %d", c.MaxBatch)
	case c.QueueSize < 1:
		return fmt.Errorf("inference.queue_size: must be >= 1, got %d", c.QueueSize)
	case c.ShadowQueue < 1:
		return fmt.Errorf("shadow queue: must be >= 1 rows, got %d", c.ShadowQueue)
	case c.MaxDevices < 1:
		return fmt.Errorf("inference.max_devices: must be >= 1, got %d", c.MaxDevices)
	case c.Session.IntraOpThreads < 0:
		return fmt.Errorf("inference.session.intra_op_threads: must be >= 0, got %d", c.Session.IntraOpThreads)
	case c.Session.InterOpThreads < 0:
		return fmt.Errorf("inference.session.inter_op_threads: must be >= 0, got %d", c.Session.InterOpThreads)
	case c.Scoring != ScoringFast && c.Scoring != ScoringReference:
		return fmt.Errorf("inference.scoring: must be %s or %s, got %q", ScoringFast, ScoringReference, c.Scoring)
	}
	return nil
}
