package bridge

import (
	"errors"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/edgepm/edgepm/internal/wire"
)

// Reasons a record is dropped (label of edgepm_bridge_records_dropped_total,
// StreamStatus.Dropped, detail "reason" of uplink.record_dropped).
const (
	DropTooLarge        = "too_large"         // larger than batch_max_bytes, or MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE alone
	DropInvalidRecord   = "invalid_record"    // INVALID_RECORD
	DropCorruptMessage  = "corrupt_message"   // CORRUPT_MESSAGE
	DropInvalidTimestmp = "invalid_timestamp" // INVALID_TIMESTAMP (outside the topic's timestamp window)
)

// permanentError classifies a produce error: permanent errors are the ones
// Kafka returns about the records of a batch, which sending them again
// cannot change. Everything else (unreachable brokers, timeouts, leadership
// changes, and authorization: an operator fixes an ACL, and dropping would
// turn that fault into data loss) is retried.
func permanentError(err error) (reason string, ok bool) {
	switch {
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return DropTooLarge, true
	case errors.Is(err, kerr.InvalidRecord):
		return DropInvalidRecord, true
	case errors.Is(err, kerr.CorruptMessage):
		return DropCorruptMessage, true
	case errors.Is(err, kerr.InvalidTimestamp):
		return DropInvalidTimestmp, true
	}
	return "", false
}

// isoStart is the in-flight bound a stream starts isolating with.
const isoStart = 64

// isolation finds which record a permanent error belongs to. Kafka fails a
// whole batch, and kgo then fails every later record of the partition with
// the same error, so the error names no record. The stream is sent again
// from its watermark with at most k records in flight: k halves on each
// permanent failure and doubles on each acknowledgement. A record that
// fails twice in a row while alone in flight is the culprit and is
// dropped. Isolation ends when the watermark passes every record that
// failed permanently. Guarded by Producer.mu.
type isolation struct {
	active  bool
	k       int    // in-flight bound of the stream
	gen     uint64 // bumped when k changes down: older failures do not halve it again
	upTo    uint64 // highest seq that failed permanently
	suspect uint64 // seq that failed alone once
	fast    bool   // the last failure was permanent: resend without backoff
}

// sendTag is what a promise needs to know about how its record was sent.
type sendTag struct {
	isolating bool
	alone     bool
	gen       uint64
}

func (iso *isolation) tag() sendTag {
	return sendTag{isolating: iso.active, alone: iso.active && iso.k == 1, gen: iso.gen}
}

// failed records a permanent failure of seq (not alone).
func (iso *isolation) failed(seq uint64, t sendTag, start int) {
	iso.upTo = max(iso.upTo, seq)
	iso.fast = true
	switch {
	case !iso.active:
		iso.active, iso.k = true, start
		iso.gen++
	case t.isolating && t.gen == iso.gen:
		iso.k = max(1, iso.k/2)
		iso.gen++
	}
}

func (iso *isolation) acked(t sendTag, start int) {
	if iso.active && t.isolating {
		iso.k = min(start, 2*iso.k)
	}
}

// settle ends isolation once the watermark passed every failed record.
func (iso *isolation) settle(mark uint64) {
	if iso.active && mark >= iso.upTo {
		*iso = isolation{}
	}
}

// dropAgg is the drops of one stream and reason not yet reported.
type dropAgg struct {
	topic             string
	records           uint64
	bytes             int64
	firstSeq, lastSeq uint64
	err               string
}

type dropKey struct{ stream, reason string }

// dropLocked marks seq done without sending it, counts it and queues it for
// the uplink.record_dropped event and log line (flushDrops). Call with mu held.
func (p *Producer) dropLocked(s *stream, seq uint64, size int, reason, errText string) {
	s.win.set(seq)
	if s.dropped == nil {
		s.dropped = map[string]uint64{}
	}
	s.dropped[reason]++
	if reason == DropTooLarge {
		s.droppedTooLarge++
	}
	p.m.dropped.WithLabelValues(s.name, reason).Inc()
	k := dropKey{s.name, reason}
	a := p.drops[k]
	if a == nil {
		a = &dropAgg{topic: s.topic, firstSeq: seq}
		p.drops[k] = a
	}
	a.records++
	a.bytes += int64(size)
	a.firstSeq, a.lastSeq = min(a.firstSeq, seq), max(a.lastSeq, seq)
	if errText != "" {
		a.err = errText
	}
}

// dropFlushInterval coalesces drop reports: at most one event and log line
// per stream and reason per interval.
const dropFlushInterval = time.Second

// flushDrops logs and appends an uplink.record_dropped event for every
// (stream, reason) with drops not yet reported, at most once per
// dropFlushInterval unless final. Pump goroutine only.
func (p *Producer) flushDrops(now time.Time, final bool) {
	p.mu.Lock()
	if len(p.drops) == 0 || !final && now.Sub(p.dropsFlushed) < dropFlushInterval {
		p.mu.Unlock()
		return
	}
	drops := p.drops
	p.drops = map[dropKey]*dropAgg{}
	p.dropsFlushed = now
	p.mu.Unlock()
	keys := make([]dropKey, 0, len(drops))
	for k := range drops {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].stream < keys[j].stream || keys[i].stream == keys[j].stream && keys[i].reason < keys[j].reason
	})
	for _, k := range keys {
		a := drops[k]
		p.log.Error("records Kafka will never accept dropped from the buffer", "stream", k.stream, "topic", a.topic,
			"reason", k.reason, "records", a.records, "bytes", a.bytes, "first_seq", a.firstSeq, "last_seq", a.lastSeq, "err", a.err)
		d := map[string]any{"stream": k.stream, "topic": a.topic, "reason": k.reason, "records": a.records,
			"bytes": a.bytes, "first_seq": a.firstSeq, "last_seq": a.lastSeq}
		if a.err != "" {
			d["error"] = a.err
		}
		p.event(wire.EventRecordDropped, d)
	}
}
