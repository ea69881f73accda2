package fleet

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
)

// recentEvents are the event types the console lists beside the alerts:
// what a fleet operator acts on, and the history of the models (trained,
// evaluated, rollouts started, promoted and aborted, written by the
// central tools under their own names, such as edgepm-fleet). Other
// events are ignored.
var recentEvents = map[string]bool{
	wire.EventModelActivated: true, wire.EventModelRejected: true, wire.EventModelRollback: true,
	wire.EventGatewayStarted: true, wire.EventGatewayStopped: true,
	wire.EventInferenceDrift: true, wire.EventSensorStuck: true, wire.EventUplinkOffline: true,
	wire.EventModelTrained: true, wire.EventModelEvaluated: true,
	wire.EventRolloutStarted: true, wire.EventRolloutPromoted: true, wire.EventRolloutAborted: true,
}

// recentList keeps the newest RecentMax entries by time. It grows to twice
// that before it trims, so an append costs O(1) amortised.
type recentList struct{ items []Recent }

func (l *recentList) add(r Recent) {
	l.items = append(l.items, r)
	if len(l.items) >= 2*RecentMax {
		l.trim()
	}
}

func (l *recentList) trim() {
	slices.SortStableFunc(l.items, func(a, b Recent) int { return b.Time.Compare(a.Time) })
	if len(l.items) > RecentMax {
		clear(l.items[RecentMax:])
		l.items = l.items[:RecentMax]
	}
}

// newest returns a copy, newest first.
func (l *recentList) newest() []Recent {
	l.trim()
	return slices.Clone(l.items)
}

// ApplyAlert applies a record of the alerts topic (wire.Alert JSON): it
// becomes a recent entry of type alert.raised or alert.cleared.
func (v *View) ApplyAlert(value []byte, at time.Time) error {
	var a wire.Alert
	if len(value) > maxValueBytes {
		v.countBad()
		return bad("alert: %d bytes, more than %d", len(value), maxValueBytes)
	}
	if err := json.Unmarshal(value, &a); err != nil || a.Gateway == "" || a.State == "" {
		v.countBad()
		return bad("alert: not an edgepm alert (%v)", err)
	}
	if a.TS > 0 {
		at = time.UnixMilli(a.TS)
	}
	score := a.Score
	r := Recent{Time: at.UTC(), Gateway: truncate(a.Gateway, maxIDLen), Type: "alert." + truncate(a.State, 20),
		Device: truncate(a.Device, maxIDLen), Model: truncate(a.Model+":"+a.ModelVersion, 2*maxIDLen), Score: &score,
		Summary: fmt.Sprintf("score %.4g, threshold %.4g", a.Score, a.Threshold)}
	v.mu.Lock()
	v.recent.add(r)
	v.mu.Unlock()
	return nil
}

// ApplyEvent applies a record of the events topic (wire.Event JSON); the
// types in recentEvents become recent entries, others are ignored.
func (v *View) ApplyEvent(value []byte, at time.Time) error {
	var e wire.Event
	if len(value) > maxValueBytes {
		v.countBad()
		return bad("event: %d bytes, more than %d", len(value), maxValueBytes)
	}
	if err := json.Unmarshal(value, &e); err != nil || e.Gateway == "" || e.Type == "" {
		v.countBad()
		return bad("event: not an edgepm event (%v)", err)
	}
	if !recentEvents[e.Type] {
		return nil
	}
	if e.TS > 0 {
		at = time.UnixMilli(e.TS)
	}
	r := Recent{Time: at.UTC(), Gateway: truncate(e.Gateway, maxIDLen), Type: e.Type,
		Device: truncate(detailString(e.Detail, "device"), maxIDLen), Summary: summary(e.Detail)}
	if m := detailString(e.Detail, "model"); m != "" {
		r.Model = truncate(m+":"+detailString(e.Detail, "version"), 2*maxIDLen)
		r.Model = strings.TrimSuffix(r.Model, ":")
	}
	v.mu.Lock()
	v.recent.add(r)
	v.mu.Unlock()
	return nil
}

func detailString(d map[string]any, k string) string {
	s, _ := d[k].(string)
	return s
}

// summary is the event's detail as "k=v" pairs, sorted, at most 200
// bytes, without the keys shown in their own columns.
func summary(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		if k != "model" && k != "version" && k != "device" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%v", k, d[k])
		if b.Len() > 200 {
			break
		}
	}
	return truncate(b.String(), 200)
}
