package rollout

import (
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
)

func TestObserve(t *testing.T) {
	r := testRecord()
	r.Shadow = "2.0.0"
	before, after := r.Since().Add(-time.Minute), r.Since().Add(time.Second)
	f := newFleetState()
	ev := func(gw, typ, version string, at time.Time, extra map[string]any) {
		d := map[string]any{"model": "pump", "version": version}
		for k, v := range extra {
			d[k] = v
		}
		f.addEvent(wire.EncodeEvent(gw, typ, at, d))
	}
	ev("gw-1", wire.EventModelActivated, "2.0.0", after, nil)
	ev("gw-2", wire.EventModelRejected, "2.0.0", before, map[string]any{"reason": "old"}) // before the rollout
	ev("gw-3", wire.EventModelRejected, "2.0.0", after, map[string]any{"reason": "signature", "error": "no key"})
	ev("gw-4", wire.EventModelActivated, "1.0.0", after, nil) // another version
	ev("gw-5", wire.EventMQTTConnected, "2.0.0", after, nil)  // another type
	f.addEvent([]byte("not json"))
	agree := 0.8
	f.hbs["gw-2"] = &wire.Heartbeat{TS: after, Model: &wire.HeartbeatModel{Name: "pump", Version: "2.0.0", State: "active"},
		Shadow: &wire.HeartbeatShadow{Version: "2.0.0", AlertAgreement: &agree}}
	f.hbs["gw-6"] = &wire.Heartbeat{TS: before, Model: &wire.HeartbeatModel{Name: "pump", Version: "2.0.0", State: "active"}}
	o := f.observe(r)
	if !o.Activated["gw-1"] || !o.Activated["gw-2"] || o.Activated["gw-4"] || o.Activated["gw-6"] || len(o.Activated) != 2 {
		t.Errorf("activated %v", o.Activated)
	}
	if len(o.Rejected) != 1 || o.Rejected["gw-3"] != "signature: no key" {
		t.Errorf("rejected %v", o.Rejected)
	}
	if len(o.Agreement) != 1 || o.Agreement["gw-2"] != 0.8 {
		t.Errorf("agreement %v", o.Agreement)
	}
}
