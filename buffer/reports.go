package buffer

import (
	"math"
	"time"
)

// DropReport says that records were dropped from one stream for one reason
// (ReasonStreamCap, ReasonBufferCap, ReasonTTL) since the previous report of
// that stream and reason. Reports are coalesced: at most one per stream and
// reason per Options.DropEventInterval, and all pending ones at Close.
type DropReport struct {
	Stream   string
	Reason   string
	Records  uint64
	Bytes    int64 // stored bytes freed
	FirstSeq uint64
	LastSeq  uint64
	Since    time.Time // when the first drop of this report happened
	At       time.Time // when it is reported
}

// RecoveryReport says that the buffer file was unusable at Open and was
// moved aside (see Health, CondRecovered).
type RecoveryReport struct {
	MovedTo    string // where the unusable file now is
	Err        error  // why it was unusable
	Salvaged   int64  // records copied into the fresh file
	Unreadable int64  // records that could not be decoded
	SeqJumped  bool   // the old sequence marks were lost: sequences jumped to the floor
	At         time.Time
}

// widestDropReport has every number at its widest encoding, so the record
// OnDrop makes of it bounds the size of the record of any real report (see
// Options.OnDrop).
func widestDropReport(stream, reason string, at time.Time) DropReport {
	return DropReport{Stream: stream, Reason: reason, Records: math.MaxUint64, Bytes: math.MinInt64,
		FirstSeq: math.MaxUint64, LastSeq: math.MaxUint64, Since: time.UnixMilli(math.MinInt64), At: at}
}
