package buffer

import "time"

// The default streams. Every Queue has them; Options.Streams may tune them and
// add more.
const (
	StreamReadings    = "readings"
	StreamPredictions = "predictions"
	StreamAlerts      = "alerts"
	StreamEvents      = "events"
	StreamDeadletter  = "deadletter"
)

// Header is one extra Kafka record header carried with a Record.
type Header struct {
	Key   string
	Value []byte
}

// Record is one buffered message.
type Record struct {
	Stream  string    // one of the configured streams
	Seq     uint64    // assigned by Append, per stream, monotonic across restarts; a new stream starts above Unix µs
	Time    time.Time // when the record was created (ingest time); stored with ns precision; zero = set by Append
	Key     []byte    // device id
	Value   []byte    // payload (the Kafka record value, JSON)
	Headers []Header  // extra Kafka headers (schema, model); bridge adds gateway/stream/seq
}

// storedSize is what a record costs against the caps: the bbolt key (8), the
// framed value, and bbolt's 16-byte leaf element header.
func storedSize(framedLen int) int64 { return int64(8 + 16 + framedLen) }
