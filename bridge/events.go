package bridge

import (
	"context"
	"time"

	"github.com/edgepm/edgepm/buffer"
)

// Event types the bridge appends to the events stream, in the buffer.Event
// envelope (docs/formats/kafka-records.md, "Events").
const (
	EventUplinkOnline   = "uplink.online"
	EventUplinkOffline  = "uplink.offline"
	EventRecordDropped  = "uplink.record_dropped"
	EventModelReceived  = "model.received"
	EventModelVerified  = "model.verified"
	EventModelActivated = "model.activated"
	EventModelRejected  = "model.rejected"
	EventModelRollback  = "model.rolled_back"
	EventModelRetired   = "model.retired"
)

// eventTimeout bounds how long an event append may wait for room in the
// buffer.
const eventTimeout = 2 * time.Second

// appendEvent durably appends one event (buffer.NewEventRecord: key =
// gateway, header edgepm-schema: 1); failures are returned, not fatal.
func appendEvent(q Appender, gateway, typ string, detail map[string]any) error {
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	return q.Append(ctx, []buffer.Record{buffer.NewEventRecord(gateway, typ, time.Now().UTC(), detail)})
}

func (p *Producer) event(typ string, detail map[string]any) {
	if _, ok := p.byName[buffer.StreamEvents]; !ok {
		return
	}
	if err := appendEvent(p.q, p.cfg.GatewayID, typ, detail); err != nil {
		p.log.Warn("append event", "type", typ, "err", err)
	}
}
