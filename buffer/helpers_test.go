package buffer

import (
	"encoding/json"
	"errors"
	"hash/crc32"
	"strconv"
	"time"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func goQuote(b []byte) string { return strconv.Quote(string(b)) }

// The tests' report records: the queue never looks into records, so the
// tests give it reporters of their own (the appliance's are in
// internal/wire) that write a small JSON event into the events stream.
const (
	evDropped   = "dropped"
	evRecovered = "recovered"
)

// testEvent is the value of a test report record.
type testEvent struct {
	Type   string         `json:"type"`
	TS     int64          `json:"ts"`
	Detail map[string]any `json:"detail"`
}

func testEventRecord(typ string, at time.Time, detail map[string]any) Record {
	v, err := json.Marshal(testEvent{Type: typ, TS: at.UnixMilli(), Detail: detail})
	if err != nil {
		panic(err) // test values always encode
	}
	return Record{Stream: StreamEvents, Time: at, Key: []byte("gw"), Value: v}
}

func testDropRecord(r DropReport) (Record, bool) {
	return testEventRecord(evDropped, r.At, map[string]any{"stream": r.Stream, "reason": r.Reason,
		"records": r.Records, "bytes": r.Bytes, "first_seq": r.FirstSeq, "last_seq": r.LastSeq,
		"since": r.Since.UnixMilli()}), true
}

func testRecoverRecord(r RecoveryReport) (Record, bool) {
	return testEventRecord(evRecovered, r.At, map[string]any{"moved_to": r.MovedTo, "error": r.Err.Error(),
		"salvaged_records": r.Salvaged, "unreadable_records": r.Unreadable, "seq_jumped": r.SeqJumped}), true
}

// withReports sets the test reporters where opts has none.
func withReports(opts Options) Options {
	if opts.OnDrop == nil {
		opts.OnDrop = testDropRecord
	}
	if opts.OnRecover == nil {
		opts.OnRecover = testRecoverRecord
	}
	return opts
}
