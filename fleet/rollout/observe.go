package rollout

import (
	"encoding/json"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
)

// evKey identifies a model event kept by the runner: the latest one per
// gateway, type, model and version, so memory is bounded by the fleet.
type evKey struct{ gateway, typ, model, version string }

type evVal struct {
	at     time.Time
	reason string
}

// fleetState is what the runner knows of the fleet: the latest heartbeat
// per gateway and the latest model event per key. Not safe for concurrent
// use (the runner holds its lock).
type fleetState struct {
	hbs    map[string]*wire.Heartbeat
	events map[evKey]evVal
}

func newFleetState() *fleetState {
	return &fleetState{hbs: map[string]*wire.Heartbeat{}, events: map[evKey]evVal{}}
}

// addEvent keeps a model.activated or model.rejected event value; others
// and undecodable values are ignored.
func (f *fleetState) addEvent(value []byte) {
	var ev wire.Event
	if json.Unmarshal(value, &ev) != nil {
		return
	}
	if ev.Type != wire.EventModelActivated && ev.Type != wire.EventModelRejected {
		return
	}
	model, _ := ev.Detail["model"].(string)
	version, _ := ev.Detail["version"].(string)
	reason, _ := ev.Detail["reason"].(string)
	if errText, _ := ev.Detail["error"].(string); errText != "" {
		reason += ": " + errText
	}
	k := evKey{ev.Gateway, ev.Type, model, version}
	at := time.UnixMilli(ev.TS)
	if old, ok := f.events[k]; !ok || at.After(old.at) {
		f.events[k] = evVal{at: at, reason: reason}
	}
}

// observe gathers what the fleet reported about r since it entered its state.
func (f *fleetState) observe(r *Record) Observed {
	o := Observed{Activated: map[string]bool{}, Rejected: map[string]string{}, Agreement: map[string]float64{}}
	since := r.Since()
	for k, v := range f.events {
		if k.model != r.Name || k.version != r.Version || v.at.Before(since) {
			continue
		}
		switch k.typ {
		case wire.EventModelActivated:
			o.Activated[k.gateway] = true
		case wire.EventModelRejected:
			o.Rejected[k.gateway] = v.reason
		}
	}
	for id, hb := range f.hbs {
		if hb.TS.Before(since) {
			continue
		}
		if m := hb.Model; m != nil && m.Name == r.Name && m.Version == r.Version {
			o.Activated[id] = true
		}
		if s := hb.Shadow; s != nil && r.Shadow != "" && s.Version == r.Shadow && s.AlertAgreement != nil {
			o.Agreement[id] = *s.AlertAgreement
		}
	}
	return o
}
