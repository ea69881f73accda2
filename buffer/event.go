package buffer

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventSchemaVersion is the version of the Event envelope (Event.V and the
// edgepm-schema header of every events record).
const EventSchemaVersion = 1

// Event is the value of every record of the events stream (schema v1). The
// buffer owns the events stream's record format: the queue's own events, the
// bridge's and the edge's all use this envelope (see docs/formats/buffer.md).
type Event struct {
	V       int            `json:"v"`       // EventSchemaVersion (1)
	Gateway string         `json:"gateway"` // Options.EventKey as a string
	Type    string         `json:"type"`    // dotted, lowercase: "buffer.dropped", "uplink.online", "gateway.started", ...
	TS      int64          `json:"ts"`      // unix milliseconds
	Detail  map[string]any `json:"detail,omitempty"`
}

// NewEventRecord returns a record for the events stream: Key = gateway, Value
// = the Event as JSON, Time = ts, Headers = [{"edgepm-schema","1"}]. Seq is
// left zero (Append assigns it). A detail value that cannot be encoded as
// JSON is replaced by its fmt %v text, so the event is never lost.
func NewEventRecord(gateway, typ string, ts time.Time, detail map[string]any) Record {
	ev := Event{V: EventSchemaVersion, Gateway: gateway, Type: typ, TS: ts.UnixMilli(), Detail: detail}
	v, err := json.Marshal(ev)
	if err != nil {
		ev.Detail = stringifyDetail(detail)
		v, _ = json.Marshal(ev) // strings, ints and bools always encode
	}
	return Record{
		Stream:  StreamEvents,
		Time:    ts,
		Key:     []byte(gateway),
		Value:   v,
		Headers: []Header{{Key: "edgepm-schema", Value: []byte("1")}}, // own slice per record
	}
}

// stringifyDetail keeps every detail key but turns values json cannot encode
// (channels, funcs, NaN) into text.
func stringifyDetail(detail map[string]any) map[string]any {
	out := make(map[string]any, len(detail))
	for k, v := range detail {
		if _, err := json.Marshal(v); err != nil {
			out[k] = fmt.Sprint(v)
			continue
		}
		out[k] = v
	}
	return out
}
