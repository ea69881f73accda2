package edge

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/internal/wire"
)

// lossEventEvery is the least time between two ingest.upstream_loss events
// of one device: losses in between are added up into the next event.
const lossEventEvery = time.Minute

// lossFlushEvery is how often pending losses are checked for an event due
// and the broker's $SYS dropped count is looked at (Mosquitto publishes it
// every sys_interval, 10 s by default).
const lossFlushEvery = time.Second

// lossCounts are counter gaps, missing readings and counter resets.
type lossCounts struct {
	gaps, missing, resets uint64
}

func (c *lossCounts) add(r ingest.SeqResult) {
	if r.Missing > 0 {
		c.gaps++
		c.missing += r.Missing
	}
	if r.Reset {
		c.resets++
	}
}

// seqLoss is one device's upstream loss: allocated at its first gap or
// reset, so a device that never lost anything pays one nil pointer.
type seqLoss struct {
	total     lossCounts // since the device was first kept (status)
	pend      lossCounts // not yet reported in an event
	pendSince int64      // UnixNano when the first pending one was seen
	lastEvent int64      // UnixNano of the device's last event (0: none)
}

// lossEvent is one ingest.upstream_loss event to write.
type lossEvent struct {
	device string
	counts lossCounts
	since  time.Time
}

// take returns the pending counts as an event and clears them.
func (l *seqLoss) take(device string, now int64) lossEvent {
	ev := lossEvent{device: device, counts: l.pend, since: time.Unix(0, l.pendSince)}
	l.pend, l.pendSince, l.lastEvent = lossCounts{}, 0, now
	return ev
}

func (l *seqLoss) pending() bool { return l.pend != lossCounts{} }

// record is the event's buffer record.
func (e lossEvent) record(gateway string, at time.Time) buffer.Record {
	return wire.EventRecord(gateway, wire.EventUpstreamLoss, at, map[string]any{
		"device": e.device, "gaps": e.counts.gaps, "missing": e.counts.missing, "resets": e.counts.resets,
		"since": unixMs(e.since)})
}

// lossRecords appends the records of events to recs.
func (a *App) lossRecords(recs []buffer.Record, events []lossEvent, at time.Time) []buffer.Record {
	for _, e := range events {
		recs = append(recs, e.record(a.cfg.GatewayID, at))
	}
	return recs
}

// lossLoop writes the ingest.upstream_loss events that come due while no
// reading of their device arrives, logs a summary at most once a minute,
// and checks the broker's $SYS dropped count, until ctx ends.
func (a *App) lossLoop(ctx context.Context) {
	t := time.NewTicker(lossFlushEvery)
	defer t.Stop()
	var logged lossCounts
	var lastLog time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.flushLoss(now, false)
			a.checkBrokerDrops(now)
			if tot := a.devices.lossTotals(); tot != logged && now.Sub(lastLog) >= lossEventEvery {
				a.log.Warn("readings lost before the gateway: device seq counters skipped or restarted",
					"missing", tot.missing-logged.missing, "gaps", tot.gaps-logged.gaps, "resets", tot.resets-logged.resets,
					"hint", "see ingest.upstream_loss events, /api/status ingest and the broker's queue limits (docs/operations.md)")
				logged, lastLog = tot, now
			}
		}
	}
}

// flushLoss writes the events due at now (all pending ones when all).
func (a *App) flushLoss(now time.Time, all bool) {
	evs := a.devices.dueLoss(now, all)
	if len(evs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.queue.Append(ctx, a.lossRecords(nil, evs, now)); err != nil {
		a.log.Warn("event not buffered", "type", wire.EventUpstreamLoss, "events", len(evs), "err", err)
	}
}

// lossCollectors are the seq counters' metrics.
func (t *deviceTable) lossCollectors() []prometheus.Collector {
	counter := func(name, help string, v func(lossCounts) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(t.lossTotals())) })
	}
	return []prometheus.Collector{
		counter("edgepm_ingest_seq_gaps_total", "Gaps in devices' payload seq counters: readings lost before the gateway (broker, network, device).",
			func(c lossCounts) uint64 { return c.gaps }),
		counter("edgepm_ingest_seq_missing_total", "Readings missing in devices' payload seq counters (the numbers the gaps skipped).",
			func(c lossCounts) uint64 { return c.missing }),
		counter("edgepm_ingest_seq_resets_total", "Devices' payload seq counters that went back or restarted (device restarts).",
			func(c lossCounts) uint64 { return c.resets }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "edgepm_ingest_seq_duplicates_total",
			Help: "Readings whose seq counter was seen before (QoS 1 redeliveries; not a loss)."},
			func() float64 { return float64(t.duplicates.Load()) }),
	}
}
