package wire

import (
	"encoding/json"
	"fmt"

	"github.com/edgepm/edgepm/buffer"
)

// StreamGateways is the buffer stream of heartbeats; prefixed like every
// stream it is the compacted gateways topic (edgepm.gateways).
const StreamGateways = "gateways"

// HeartbeatRecord returns a record of the gateways stream: Key = the gateway
// id (the compaction key), Value = the JSON of hb, Time = hb.TS, Headers =
// [edgepm-schema] (its own slice). It fails only when hb holds a value JSON
// cannot carry (a NaN or infinite number), so a caller can count the loss.
func HeartbeatRecord(hb *Heartbeat) (buffer.Record, error) {
	v, err := json.Marshal(hb)
	if err != nil {
		return buffer.Record{}, fmt.Errorf("encode heartbeat of gateway %s: %w", hb.Gateway, err)
	}
	return buffer.Record{Stream: StreamGateways, Time: hb.TS, Key: []byte(hb.Gateway), Value: v,
		Headers: []buffer.Header{SchemaHeader()}}, nil
}
