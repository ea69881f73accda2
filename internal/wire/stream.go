package wire

import (
	"encoding/json"

	"github.com/edgepm/edgepm/buffer"
)

// StreamOf names the buffer stream a record of this format belongs to, from
// the fields of its value (ok = false: not a record of this format). The
// buffer's salvage uses it (buffer.Options.StreamOf) for records found in
// an unreadable file whose stream the file no longer tells.
func StreamOf(r buffer.Record) (string, bool) {
	var f map[string]json.RawMessage
	if json.Unmarshal(r.Value, &f) != nil {
		return "", false
	}
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := f[k]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case !has("v", "gateway"):
		return "", false
	case has("interval_s", "started_at"):
		return StreamGateways, true
	case has("type", "ts"):
		return buffer.StreamEvents, true
	case has("state", "threshold", "score"):
		return buffer.StreamAlerts, true
	case has("score", "feature_hash"):
		return buffer.StreamPredictions, true
	case has("reason", "topic", "payload_bytes"):
		return buffer.StreamDeadletter, true
	case has("device", "received", "ts"):
		return buffer.StreamReadings, true
	}
	return "", false
}
