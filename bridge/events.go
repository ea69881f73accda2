package bridge

import (
	"context"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

// The model watcher's event types, as internal/wire names them
// (docs/formats/kafka-records.md, "Events"); the uplink's are used from
// wire directly.
const (
	EventModelReceived  = wire.EventModelReceived
	EventModelVerified  = wire.EventModelVerified
	EventModelActivated = wire.EventModelActivated
	EventModelRejected  = wire.EventModelRejected
	EventModelRollback  = wire.EventModelRollback
	EventModelRetired   = wire.EventModelRetired
)

// eventTimeout bounds how long an event append may wait for room in the
// buffer.
const eventTimeout = 2 * time.Second

// appendEvent durably appends one event (wire.EventRecord: key = gateway,
// header edgepm-schema); failures are returned, not fatal.
func appendEvent(q Appender, gateway, typ string, detail map[string]any) error {
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	return q.Append(ctx, []buffer.Record{wire.EventRecord(gateway, typ, time.Now().UTC(), detail)})
}

func (p *Producer) event(typ string, detail map[string]any) {
	if _, ok := p.byName[buffer.StreamEvents]; !ok {
		return
	}
	if err := appendEvent(p.q, p.cfg.GatewayID, typ, detail); err != nil {
		p.log.Warn("append event", "type", typ, "err", err)
	}
}
