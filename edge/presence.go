package edge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/internal/wire"
)

// presenceEvents reports Sparkplug births and deaths (log, device status)
// and appends their device.online and device.offline event records to
// recs.
func (a *App) presenceEvents(recs []buffer.Record, changes []ingest.PresenceChange) []buffer.Record {
	for _, c := range changes {
		typ := wire.EventDeviceOffline
		if c.Online {
			typ = wire.EventDeviceOnline
			a.log.Info("device online (Sparkplug birth)", "device", c.Device, "message", c.Cause, "bd_seq", c.BdSeq)
		} else {
			a.log.Warn("device offline (Sparkplug death)", "device", c.Device, "message", c.Cause, "bd_seq", c.BdSeq)
		}
		a.devices.setOffline(c.Device, !c.Online)
		recs = append(recs, wire.EventRecord(a.cfg.GatewayID, typ, c.At, map[string]any{
			"device": c.Device, "cause": c.Cause, "bd_seq": c.BdSeq}))
	}
	return recs
}

// rebirthCollector is edgepm_sparkplug_rebirths_requested_total.
func (a *App) rebirthCollector() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "edgepm_sparkplug_rebirths_requested_total",
		Help: "Sparkplug rebirth requests (NCMD Node Control/Rebirth) sent (mqtt.subscriptions[i].sparkplug.rebirth)."},
		func() float64 { return float64(a.pipeline.RebirthRequests()) })
}
