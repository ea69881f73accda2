package bridge

import (
	"context"
	"encoding/json"
	"time"

	"github.com/edgepm/edgepm/buffer"
)

// Event types the bridge appends to the events stream.
const (
	EventUplinkOnline   = "uplink.online"
	EventUplinkOffline  = "uplink.offline"
	EventModelReceived  = "model.received"
	EventModelVerified  = "model.verified"
	EventModelActivated = "model.activated"
	EventModelRejected  = "model.rejected"
	EventModelRollback  = "model.rolled_back"
	EventModelRetired   = "model.retired"
)

// Event is the JSON value of a record on the events stream written by the
// bridge (schema 1). Key = gateway id.
type Event struct {
	Schema  int            `json:"schema"`
	Type    string         `json:"type"`
	Gateway string         `json:"gateway"`
	Time    time.Time      `json:"time"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// eventAppender appends events to the buffer's events stream.
type eventAppender interface {
	Append(ctx context.Context, recs []buffer.Record) error
}

// appendEvent durably appends one event; failures are returned, not fatal.
func appendEvent(q eventAppender, gateway, typ string, fields map[string]any) error {
	ev := Event{Schema: 1, Type: typ, Gateway: gateway, Time: time.Now().UTC(), Fields: fields}
	v, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return q.Append(ctx, []buffer.Record{{
		Stream:  buffer.StreamEvents,
		Time:    ev.Time,
		Key:     []byte(gateway),
		Value:   v,
		Headers: []buffer.Header{{Key: "edgepm-schema", Value: []byte("1")}},
	}})
}

func (p *Producer) event(typ string, fields map[string]any) {
	if _, ok := p.byName[buffer.StreamEvents]; !ok {
		return
	}
	if err := appendEvent(p.q, p.cfg.GatewayID, typ, fields); err != nil {
		p.log.Warn("append event", "type", typ, "err", err)
	}
}
