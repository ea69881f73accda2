package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/wire"
)

// ErrBadRecord is returned (wrapped, with the reason) for a record the view
// cannot use; the view counts it in Counts.BadRecords and keeps what it had.
var ErrBadRecord = errors.New("bad record")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRecord}, args...)...)
}

// ApplyHeartbeat applies a record of the gateways topic: key = gateway id,
// value = wire.Heartbeat JSON, or nil (a tombstone: the gateway was
// decommissioned and leaves the view). at is the record's time, which
// staleness is measured from.
func (v *View) ApplyHeartbeat(key, value []byte, at time.Time) error {
	id := string(key)
	if id == "" || len(id) > maxIDLen {
		v.countBad()
		return bad("gateways topic: key %q is not a gateway id", truncate(id, 40))
	}
	if value == nil {
		v.mu.Lock()
		delete(v.gateways, id)
		v.mu.Unlock()
		return nil
	}
	g, err := decodeHeartbeat(id, value, at)
	if err != nil {
		v.countBad()
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	// The latest record by offset wins, as compaction keeps it, so a live
	// view agrees with one read after compaction (and a gateway whose clock
	// jumped back is not ignored).
	if v.gateways[id] == nil && len(v.gateways) >= v.maxGateways {
		v.refused++
		return fmt.Errorf("gateway %s: the view holds %d gateways already (its bound)", id, v.maxGateways)
	}
	v.gateways[id] = g
	return nil
}

func decodeHeartbeat(id string, value []byte, at time.Time) (*Gateway, error) {
	if len(value) > maxValueBytes {
		return nil, bad("heartbeat of %s: %d bytes, more than %d", id, len(value), maxValueBytes)
	}
	var hb wire.Heartbeat
	if err := json.Unmarshal(value, &hb); err != nil {
		return nil, bad("heartbeat of %s: %v", id, err)
	}
	if hb.V < 1 {
		return nil, bad("heartbeat of %s: schema version %d", id, hb.V)
	}
	if at.IsZero() {
		at = hb.TS
	}
	return gatewayOf(id, &hb, at), nil
}

// gatewayOf copies what the console shows out of a heartbeat.
func gatewayOf(id string, hb *wire.Heartbeat, at time.Time) *Gateway {
	g := &Gateway{ID: id, LastSeen: at.UTC(), IntervalS: hb.IntervalSeconds, Version: hb.Version,
		Ready: hb.Ready, UptimeS: hb.UptimeSeconds, Uplink: hb.Uplink.State,
		BacklogRecords: hb.Uplink.BacklogRecords, BacklogOldestAgeS: hb.Uplink.BacklogOldestAge,
		BufferBytes: hb.Buffer.Bytes, BufferMaxBytes: hb.Buffer.MaxBytes, BufferDropped: hb.Buffer.Dropped,
		AlertsActive: hb.AlertsActive, Devices: hb.Devices, ReadingsPerS: hb.Ingest.ReadingsPerSec, Stopped: hb.Stopped,
		InvalidPerS: hb.Ingest.InvalidPerSec, Conditions: hb.Conditions}
	if len(g.Conditions) > maxConditions {
		g.Conditions = g.Conditions[:maxConditions]
	}
	if g.Conditions == nil {
		g.Conditions = []string{}
	}
	if hb.Drift != nil {
		g.Drifting = hb.Drift.Drifting
	}
	if m := hb.Model; m != nil {
		g.Model = &Model{Name: m.Name, Version: m.Version, State: m.State, Counter: m.Counter,
			Rollout: m.Rollout, Rejected: m.Rejected, LastError: truncate(m.LastError, 200)}
	}
	if s := hb.Shadow; s != nil {
		g.Shadow = &Shadow{Name: s.Name, Version: s.Version, State: s.State, Windows: s.Windows,
			Dropped: s.Dropped, AlertAgreement: s.AlertAgreement, MeanAbsDiff: s.MeanAbsDiff}
	}
	return g
}

// ApplyModelRecord applies a record of the models topic. Only pointers
// (key = model name) matter: a tombstone retires the model, a pointer
// names the version gateways should serve and, in schema 2, its release.
// Archive and chunk records are ignored. The release signature is not
// checked: the console shows what the topic says and changes nothing;
// gateways verify before they act.
func (v *View) ApplyModelRecord(key, value []byte) error {
	name := string(key)
	if strings.Contains(name, "/") || !modelpkg.ValidName(name) {
		return nil
	}
	if value == nil {
		v.mu.Lock()
		delete(v.pointers, name)
		v.mu.Unlock()
		return nil
	}
	p, err := decodePointer(name, value)
	if err != nil {
		v.countBad()
		return err
	}
	v.mu.Lock()
	v.pointers[name] = p
	v.mu.Unlock()
	return nil
}

func decodePointer(name string, value []byte) (*pointer, error) {
	if len(value) > maxValueBytes {
		return nil, bad("pointer of model %s: %d bytes, more than %d", name, len(value), maxValueBytes)
	}
	var env bridge.ModelEnvelope
	if err := json.Unmarshal(value, &env); err != nil {
		return nil, bad("pointer of model %s: %v", name, err)
	}
	if env.Name != name || !modelpkg.ValidName(env.Version) {
		return nil, bad("pointer of model %s: names %q version %q", name, env.Name, env.Version)
	}
	p := &pointer{version: env.Version, published: env.Published}
	if len(env.Release) > 0 {
		r, err := bridge.DecodeRelease(env.Release)
		if err != nil {
			return nil, bad("pointer of model %s: %v", name, err)
		}
		p.release = r
	}
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
