package fleet_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/edgepm/edgepm/fleet"
	"github.com/edgepm/edgepm/internal/wire"
)

// FuzzApply feeds any bytes to every record the view decodes (heartbeat,
// pointer, alert, event) under any key: the view never panics, and its
// snapshot always encodes as JSON.
func FuzzApply(f *testing.F) {
	f.Add([]byte("gw-a"), mustJSON(f, heartbeat("gw-a", t0, "2")))
	f.Add([]byte("pump"), pointerValue(f, canaryRelease()))
	f.Add([]byte("m1"), mustJSON(f, wire.Alert{V: 1, Gateway: "gw", State: "raised", TS: 1}))
	f.Add([]byte("gw"), wire.EncodeEvent("gw", wire.EventModelRejected, t0, map[string]any{"model": "m", "reason": 1}))
	f.Add([]byte("pump"), []byte(`{"schema":2,"name":"pump","version":"1","release":"e30="}`))
	f.Add([]byte(""), []byte(`{"v":1,"conditions":null,"interval_s":-1e308}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		v := fleet.NewView(fleet.Options{Now: func() time.Time { return t0 }, MaxGateways: 4})
		_ = v.ApplyHeartbeat(key, value, t0)
		_ = v.ApplyModelRecord(key, value)
		_ = v.ApplyAlert(value, t0)
		_ = v.ApplyEvent(value, t0)
		if _, err := json.Marshal(v.Snapshot()); err != nil {
			t.Fatalf("snapshot does not encode: %v", err)
		}
	})
}
