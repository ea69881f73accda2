package edge

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/internal/wire"
)

// brokerDropWarnFor is how long a growth of the broker's dropped-messages
// count stays a warning in /api/status.
const brokerDropWarnFor = 10 * time.Minute

// brokerDrops follows the broker's own count of dropped messages
// (ingest.SysDroppedTopic): when it grows, QoS 1 messages were thrown away
// by the broker before edgepm could take them. The first count the client
// received is the baseline (the broker may have dropped messages of other
// clients before); a count lower than the last one is a broker restart,
// whose counter started again at 0. Safe for concurrent use.
type brokerDrops struct {
	mu        sync.Mutex
	known     bool
	last      uint64    // the broker's count when last checked
	grown     uint64    // growth since the gateway started
	grewAt    time.Time // last growth
	pend      uint64    // growth not yet in an event
	lastEvent time.Time
}

// update takes the broker's current and first count and returns the growth
// to report in a mqtt.broker_dropping event now (0: none due; growth is
// added up into at most one event per lossEventEvery).
func (b *brokerDrops) update(v, first uint64, ok bool, now time.Time) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok {
		return 0
	}
	if !b.known {
		b.known, b.last = true, first
	}
	if v < b.last {
		b.last = 0 // the broker restarted
	}
	if v > b.last {
		inc := v - b.last
		b.grown += inc
		b.pend += inc
		b.grewAt = now
	}
	b.last = v
	if b.pend == 0 || now.Sub(b.lastEvent) < lossEventEvery {
		return 0
	}
	inc := b.pend
	b.pend, b.lastEvent = 0, now
	return inc
}

// warning is the /api/status warning while a growth is recent, or "".
func (b *brokerDrops) warning(now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.grewAt.IsZero() || now.Sub(b.grewAt) > brokerDropWarnFor {
		return ""
	}
	return fmt.Sprintf("mqtt: the broker dropped messages (%s grew by %d since the gateway started, last %s ago): "+
		"QoS 1 readings were lost before edgepm; raise the broker's max_queued_messages (deploy/mosquitto/edgepm.conf, docs/operations.md)",
		ingest.SysDroppedTopic, b.grown, now.Sub(b.grewAt).Round(time.Second))
}

// checkBrokerDrops reads the broker's count and writes a
// mqtt.broker_dropping event when one is due.
func (a *App) checkBrokerDrops(now time.Time) {
	v, first, ok := a.mqtt.BrokerDropped()
	inc := a.brokerDrops.update(v, first, ok, now)
	if inc == 0 {
		return
	}
	a.log.Warn("the MQTT broker dropped messages before edgepm took them; raise its max_queued_messages",
		"topic", ingest.SysDroppedTopic, "dropped", v, "increase", inc)
	a.event(wire.EventBrokerDropping, map[string]any{"broker": ingest.RedactURL(a.cfg.MQTT.Broker), "dropped": v, "increase": inc})
}

// brokerDropsCollector exports the broker's count as
// edgepm_mqtt_broker_messages_dropped_total, only once the broker
// published one (an absent series otherwise).
type brokerDropsCollector struct{ c *ingest.Client }

var brokerDropsDesc = prometheus.NewDesc("edgepm_mqtt_broker_messages_dropped_total",
	"The MQTT broker's own count of messages it dropped for full client queues ("+ingest.SysDroppedTopic+"), all clients, since the broker started.",
	nil, nil)

func (c brokerDropsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- brokerDropsDesc }

func (c brokerDropsCollector) Collect(ch chan<- prometheus.Metric) {
	if v, _, ok := c.c.BrokerDropped(); ok {
		ch <- prometheus.MustNewConstMetric(brokerDropsDesc, prometheus.CounterValue, float64(v))
	}
}
