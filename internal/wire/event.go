package wire

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgepm/edgepm/buffer"
)

// Event is the value of every record of the events topic: the envelope
// (docs/schemas/event.schema.json) around a type's detail
// (docs/schemas/events/<type>.schema.json).
type Event struct {
	V       int            `json:"v"`       // Version
	Gateway string         `json:"gateway"` // the gateway id, also the record key
	Type    string         `json:"type"`    // one of the Event* constants
	TS      int64          `json:"ts"`      // unix milliseconds
	Detail  map[string]any `json:"detail,omitempty"`
}

// EncodeEvent returns the JSON value of an event. A detail value that cannot
// be encoded as JSON is replaced by its fmt %v text, so the event is never
// lost.
func EncodeEvent(gateway, typ string, ts time.Time, detail map[string]any) []byte {
	ev := Event{V: Version, Gateway: gateway, Type: typ, TS: ts.UnixMilli(), Detail: detail}
	v, err := json.Marshal(ev)
	if err != nil {
		ev.Detail = stringifyDetail(detail)
		v, _ = json.Marshal(ev) // strings, ints and bools always encode
	}
	return v
}

// EventRecord returns a record for the events stream: Key = gateway, Value
// = EncodeEvent, Time = ts, Headers = [edgepm-schema: Version] (its own
// slice). Seq is left zero (the buffer assigns it).
func EventRecord(gateway, typ string, ts time.Time, detail map[string]any) buffer.Record {
	return buffer.Record{
		Stream:  buffer.StreamEvents,
		Time:    ts,
		Key:     []byte(gateway),
		Value:   EncodeEvent(gateway, typ, ts, detail),
		Headers: []buffer.Header{SchemaHeader()},
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

// DroppedEvent is the buffer.dropped event of a drop report, stamped with
// the report's time. Detail: stream, reason (stream_cap | buffer_cap | ttl),
// records, bytes, first_seq, last_seq, since (unix ms of the first drop
// counted). It is the queue's buffer.Options.OnDrop in the appliance.
func DroppedEvent(gateway string, r buffer.DropReport) buffer.Record {
	return EventRecord(gateway, EventBufferDropped, r.At, map[string]any{
		"stream": r.Stream, "reason": r.Reason, "records": r.Records, "bytes": r.Bytes,
		"first_seq": r.FirstSeq, "last_seq": r.LastSeq, "since": r.Since.UnixMilli()})
}

// RecoveredEvent is the buffer.recovered event of a recovery report.
// Detail: moved_to, error, salvaged_records, unreadable_records, seq_jumped.
// It is the queue's buffer.Options.OnRecover in the appliance.
func RecoveredEvent(gateway string, r buffer.RecoveryReport) buffer.Record {
	return EventRecord(gateway, EventBufferRecovered, r.At, map[string]any{
		"moved_to": r.MovedTo, "error": errText(r.Err), "salvaged_records": r.Salvaged,
		"unreadable_records": r.Unreadable, "seq_jumped": r.SeqJumped})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
