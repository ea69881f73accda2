// Package wire owns edgepm's Kafka wire format, format version 1
// (docs/formats/kafka-records.md, JSON Schemas in docs/schemas/): the record
// values of the readings, predictions, alerts and dead-letter topics, the
// event envelope of the events topic and every event type, and the names of
// the record headers. Nothing else in edgepm spells a header name or an event
// type, or builds one of these values by hand.
//
// # Basics
//
// Version (1) is carried in every value ("v") and in the edgepm-schema header.
// Additive changes (a new optional field, header or event type) keep it; an
// incompatible one raises it and gets new schemas.
//
// The value types (Reading, Prediction, Alert, DeadLetter, Event) are the
// JSON objects themselves: encoding/json of one of them is its record value.
// AppendReading and AppendPrediction are the hot-path encoders: they write
// the same JSON without reflection (tests keep them equal to encoding/json).
// Event records are built by EventRecord; DroppedEvent and RecoveredEvent turn
// the buffer's reports (buffer.DropReport, buffer.RecoveryReport) into the
// buffer.dropped and buffer.recovered events. Heartbeat (schema
// HeartbeatSchema, versioned on its own) is the value of the compacted
// gateways topic (docs/formats/gateways.md); HeartbeatRecord builds its record
// for the gateways stream (StreamGateways).
//
// # Concurrency
//
// Every function is safe for concurrent use and none blocks: they only
// encode into memory. Records returned by the builders own their slices
// (headers included), so a caller may modify one without touching another;
// SchemaHeaders is the exception, shared by design, and must not be
// modified.
package wire
