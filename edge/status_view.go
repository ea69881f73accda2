package edge

import (
	"crypto/ed25519"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
)

// UplinkStatus is the Kafka side's state in /api/status v2.
type UplinkStatus struct {
	State     string         `json:"state"` // connecting, online, offline
	Online    bool           `json:"online"`
	Since     *time.Time     `json:"since,omitempty"`      // of the current state
	LastError string         `json:"last_error,omitempty"` // never contains credentials
	InFlight  int            `json:"in_flight"`
	Backlog   BacklogStatus  `json:"backlog"`
	Streams   []StreamStatus `json:"streams"` // in drain order
}

// BacklogStatus sums what waits in the buffer for Kafka, all streams.
type BacklogStatus struct {
	Records          int64   `json:"records"`
	Bytes            int64   `json:"bytes"`
	OldestAgeSeconds float64 `json:"oldest_age_s"`
	AckRatePerSec    float64 `json:"ack_rate_per_s"` // over the last 10 s
	// ETASeconds is records / ack rate: absent while records wait and none
	// are acknowledged, 0 when nothing waits.
	ETASeconds        *float64 `json:"eta_s,omitempty"`
	Draining          bool     `json:"draining"`
	RateLimitPerSec   float64  `json:"rate_limit_per_s"`      // records/s, 0 = unlimited
	ByteRateLimitPerS int64    `json:"byte_rate_limit_per_s"` // bytes/s, 0 = unlimited
}

// StreamStatus is one stream's delivery counters since start and backlog.
type StreamStatus struct {
	Stream           string            `json:"stream"`
	Topic            string            `json:"topic"`
	Sent             uint64            `json:"sent"`
	Acked            uint64            `json:"acked"`
	Errors           uint64            `json:"errors"`
	Dropped          map[string]uint64 `json:"dropped"` // records Kafka will never take, by reason
	InFlight         int               `json:"in_flight"`
	AckedSeq         uint64            `json:"acked_seq"` // every seq <= this is acknowledged
	Records          int64             `json:"records"`   // waiting in the buffer
	Bytes            int64             `json:"bytes"`
	OldestAgeSeconds float64           `json:"oldest_age_s"`
	Draining         bool              `json:"draining"`
	Isolating        bool              `json:"isolating"` // resending a few at a time after a permanent error
	// Failing is set while Kafka does not take the stream's topic (missing,
	// not writable, or silent while other streams are acknowledged).
	Failing      bool       `json:"failing"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
	LastError    string     `json:"last_error,omitempty"` // names the topic when failing
}

// BufferStatus is the store-and-forward buffer's state.
type BufferStatus struct {
	Records    int64                `json:"records"`
	Bytes      int64                `json:"bytes"`     // stored bytes, what max_bytes caps
	MaxBytes   int64                `json:"max_bytes"` // buffer.max_bytes
	FileBytes  int64                `json:"file_bytes"`
	Conditions []buffer.Condition   `json:"conditions"`
	Streams    []BufferStreamStatus `json:"streams"` // by name
}

// BufferStreamStatus is one buffer stream.
type BufferStreamStatus struct {
	Stream       string     `json:"stream"`
	Records      int64      `json:"records"`
	Bytes        int64      `json:"bytes"`
	OldestTime   *time.Time `json:"oldest_time,omitempty"` // absent when empty
	FirstSeq     uint64     `json:"first_seq"`             // 0 when empty
	LastSeq      uint64     `json:"last_seq"`
	Dropped      uint64     `json:"dropped"` // by caps and TTL, across restarts
	DroppedBytes uint64     `json:"dropped_bytes"`
	Appended     uint64     `json:"appended"` // since start
	Acked        uint64     `json:"acked"`    // since start
	Priority     int        `json:"priority"`
	MaxBytes     *int64     `json:"max_bytes,omitempty"` // absent: only the whole-buffer cap
	TTLSeconds   *float64   `json:"ttl_s,omitempty"`     // absent: no TTL
	Overflow     string     `json:"overflow"`
}

func uplinkStatus(b bridge.Status) UplinkStatus {
	u := UplinkStatus{State: b.State, Online: b.Online, Since: timePtr(b.Since), LastError: b.LastError,
		InFlight: b.InFlight, Streams: make([]StreamStatus, 0, len(b.Streams))}
	bl := b.Backlog
	u.Backlog = BacklogStatus{Records: bl.Records, Bytes: bl.Bytes, OldestAgeSeconds: bl.OldestAge.Seconds(),
		AckRatePerSec: bl.AckRate, Draining: bl.Draining, RateLimitPerSec: bl.RateLimit, ByteRateLimitPerS: bl.ByteRateLimit}
	if bl.ETA >= 0 {
		eta := bl.ETA.Seconds()
		u.Backlog.ETASeconds = &eta
	}
	for _, s := range b.Streams {
		ss := StreamStatus{Stream: s.Stream, Topic: s.Topic, Sent: s.Sent, Acked: s.Acked, Errors: s.Errors,
			Dropped: map[string]uint64{}, InFlight: s.InFlight, AckedSeq: s.AckedSeq, Records: s.Records, Bytes: s.Bytes,
			OldestAgeSeconds: s.OldestAge.Seconds(), Draining: s.Draining, Isolating: s.Isolating,
			Failing: s.Failing, FailingSince: s.FailingSince, LastError: s.LastError}
		for k, v := range s.Dropped {
			ss.Dropped[k] = v
		}
		if s.Failing && s.FailingError != "" {
			ss.LastError = s.FailingError
		}
		u.Streams = append(u.Streams, ss)
	}
	return u
}

func bufferStatus(bs buffer.Stats) BufferStatus {
	b := BufferStatus{Bytes: bs.Bytes, MaxBytes: bs.MaxBytes, FileBytes: bs.FileSize,
		Conditions: nonNil(slices.Clone(bs.Conditions)), Streams: make([]BufferStreamStatus, 0, len(bs.Streams))}
	for name, s := range bs.Streams {
		b.Records += s.Records
		o := s.Options
		ss := BufferStreamStatus{Stream: name, Records: s.Records, Bytes: s.Bytes, OldestTime: timePtr(s.OldestTime),
			FirstSeq: s.FirstSeq, LastSeq: s.LastSeq, Dropped: s.Dropped, DroppedBytes: s.DroppedBytes,
			Appended: s.Appended, Acked: s.Acked, Priority: o.Priority, Overflow: string(o.Overflow)}
		if o.MaxBytes >= 0 {
			mb := o.MaxBytes
			ss.MaxBytes = &mb
		}
		if o.TTL >= 0 {
			ttl := o.TTL.Seconds()
			ss.TTLSeconds = &ttl
		}
		b.Streams = append(b.Streams, ss)
	}
	sort.Slice(b.Streams, func(i, j int) bool { return b.Streams[i].Stream < b.Streams[j].Stream })
	return b
}

// timePtr is &t, or nil for the zero time (omitted in JSON).
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// modelCard remembers, for the model activated last, what the engine does
// not: the key its signature verified with, its output semantics and when
// it was activated. Safe for concurrent use.
type modelCard struct {
	mu               sync.Mutex
	name, version    string
	semantics, keyID string
	activatedAt      time.Time
}

// activated records pkg as activated now; keys are the signing policy's.
func (c *modelCard) activated(pkg *modelpkg.Package, keys []ed25519.PublicKey) {
	man, err := pkg.Decode()
	if err != nil {
		return
	}
	id := modelpkg.SignedBy(pkg, keys)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.name, c.version, c.semantics, c.keyID, c.activatedAt = man.Name, man.Version, man.OutputSemantics, id, time.Now()
}

type cardInfo struct {
	semantics, keyID string
	activatedAt      time.Time
}

// get returns the card of name@version, if that is the model recorded.
func (c *modelCard) get(name, version string) (cardInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.name != name || c.version != version {
		return cardInfo{}, false
	}
	return cardInfo{semantics: c.semantics, keyID: c.keyID, activatedAt: c.activatedAt}, true
}

// loader returns eng.Load that records each package it activates on c
// (c nil: eng.Load alone).
func (c *modelCard) loader(eng *inference.Engine, policy modelpkg.Policy) func(*modelpkg.Package) error {
	return func(pkg *modelpkg.Package) error {
		if err := eng.Load(pkg); err != nil {
			return err
		}
		if c != nil {
			c.activated(pkg, policy.Keys)
		}
		return nil
	}
}

// ShadowStatus is the shadow model scored next to the served one and how
// the two compare on the windows both scored since it was loaded
// (inference.ShadowStats): what the gateway heartbeat reports too.
type ShadowStatus struct {
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	LoadedAt time.Time `json:"loaded_at"`
	Windows  uint64    `json:"windows"` // scored by both models
	Dropped  uint64    `json:"dropped"` // served windows the shadow did not score (it was behind)
	Errors   uint64    `json:"errors"`  // windows the shadow failed to score
	// AlertAgreement is the share of windows on which both models made the
	// same alert decision (each by its own threshold and direction), 0..1;
	// MeanAbsDiff the mean |served score - shadow score|. Both are absent
	// before the first window.
	AlertAgreement *float64 `json:"alert_agreement,omitempty"`
	MeanAbsDiff    *float64 `json:"mean_abs_diff,omitempty"`
}

// shadowStatus is the status of st (nil: no shadow).
func shadowStatus(st *inference.ShadowStats) *ShadowStatus {
	if st == nil {
		return nil
	}
	s := &ShadowStatus{Name: st.Name, Version: st.Version, LoadedAt: st.Since, Windows: st.Windows,
		Dropped: st.Dropped, Errors: st.Errors}
	if st.Windows > 0 {
		agree, diff := st.AlertAgreement, st.MeanAbsDiff
		s.AlertAgreement, s.MeanAbsDiff = &agree, &diff
	}
	return s
}
