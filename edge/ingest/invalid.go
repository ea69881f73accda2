package ingest

import "fmt"

// Reasons a message is rejected into the dead-letter stream. They appear in
// dead-letter records and as the "reason" label of
// edgepm_ingest_invalid_total.
const (
	ReasonMalformed     = "malformed_json"
	ReasonWrongType     = "wrong_type"
	ReasonNonFinite     = "non_finite"
	ReasonMissing       = "missing_field"
	ReasonTooLarge      = "too_large"
	ReasonOutOfRange    = "out_of_range"
	ReasonClockSkew     = "clock_skew"
	ReasonBadTimestamp  = "bad_timestamp"
	ReasonUnknownDevice = "unknown_device"
	ReasonBadTopic      = "bad_topic"
	// ReasonBadDevice: a device id taken from the payload (flat
	// device_field, telegraf device_tag) that is not a valid device id.
	ReasonBadDevice = "bad_device"

	// Sparkplug B (format sparkplug_b).
	ReasonMalformedProto = "malformed_protobuf" // not a Tahu Payload, or compressed
	ReasonNoBirth        = "no_birth"           // data (or a device birth) before its birth certificate
	ReasonUnknownAlias   = "unknown_alias"      // a metric alias or name its birth did not define
	ReasonSeqGap         = "seq_gap"            // the edge node's seq skipped (a message was lost)
)

// Reasons lists every Reason constant (the values of the "reason" label).
func Reasons() []string {
	return []string{ReasonMalformed, ReasonWrongType, ReasonNonFinite, ReasonMissing, ReasonTooLarge,
		ReasonOutOfRange, ReasonClockSkew, ReasonBadTimestamp, ReasonUnknownDevice, ReasonBadTopic,
		ReasonBadDevice, ReasonMalformedProto, ReasonNoBirth, ReasonUnknownAlias, ReasonSeqGap}
}

// InvalidError is returned for a payload that fails decoding or validation.
type InvalidError struct {
	Reason string // one of the Reason constants
	Detail string // human-readable, names the field and value
}

func (e *InvalidError) Error() string { return e.Reason + ": " + e.Detail }

func invalid(reason, format string, args ...any) *InvalidError {
	return &InvalidError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
