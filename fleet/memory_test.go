package fleet_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/edgepm/edgepm/fleet"
)

// TestMemoryOf10000Gateways feeds 10,000 heartbeats (model, shadow,
// drift-free, two conditions each: a realistic snapshot) and reports the
// heap the view holds for them, the figure docs/operations.md gives
// ("Fleet console"). It fails if a gateway state takes more than 4 KiB.
func TestMemoryOf10000Gateways(t *testing.T) {
	const n = 10_000
	values := make([][]byte, n)
	for i := range values {
		hb := heartbeat(fmt.Sprintf("plant-%02d-line-%03d-gw", i/1000, i%1000), t0, "2026-12-01.3")
		hb.Conditions = []string{"uplink offline for 12s", "buffer above 80%"}
		values[i] = mustJSON(t, hb)
	}
	before := heapInUse()
	v := fleet.NewView(fleet.Options{Now: func() time.Time { return t0 }})
	for i, b := range values {
		if err := v.ApplyHeartbeat([]byte(fmt.Sprintf("plant-%02d-line-%03d-gw", i/1000, i%1000)), b, t0); err != nil {
			t.Fatal(err)
		}
	}
	held := heapInUse() - before
	runtime.KeepAlive(v)
	per := float64(held) / n
	t.Logf("10,000 gateway states: %.1f MiB held (%.0f bytes per gateway; heartbeat values %d bytes each)",
		float64(held)/(1<<20), per, len(values[0]))
	if v.Len() != n || per > 4096 {
		t.Errorf("%d gateways, %.0f bytes each: want %d within 4 KiB each", v.Len(), per, n)
	}
	f := v.Snapshot()
	if len(f.Gateways) != n {
		t.Errorf("snapshot has %d gateways", len(f.Gateways))
	}
	t.Logf("/api/fleet document of 10,000 gateways: %.1f MiB", float64(len(mustJSON(t, f)))/(1<<20))
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
