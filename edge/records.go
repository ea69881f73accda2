package edge

import (
	"encoding/json"
	"time"

	"github.com/edgepm/edgepm/edge/ingest"
)

// SchemaVersion is the version of the JSON record values edgepm writes to
// the buffer and Kafka (docs/formats/kafka-records.md). It is carried in
// every value ("v") and in the edgepm-schema header.
const SchemaVersion = 1

// Header names edgepm sets on Kafka records (see docs/formats/kafka-records.md).
const (
	HeaderSchema = "edgepm-schema"
	HeaderModel  = "edgepm-model"
)

// readingValue is the value of an edgepm.readings record.
type readingValue struct {
	V         int                `json:"v"`
	Gateway   string             `json:"gateway"`
	Device    string             `json:"device"`
	Fields    map[string]string  `json:"fields,omitempty"`
	TS        int64              `json:"ts"`       // device time, unix ms
	Received  int64              `json:"received"` // gateway receive time, unix ms
	DeviceSeq uint64             `json:"device_seq,omitempty"`
	Values    map[string]float64 `json:"values,omitempty"`
	Waveform  *ingest.Waveform   `json:"waveform,omitempty"`
}

// predictionValue is the value of an edgepm.predictions record.
type predictionValue struct {
	V            int       `json:"v"`
	Gateway      string    `json:"gateway"`
	Device       string    `json:"device"`
	Model        string    `json:"model"`
	ModelVersion string    `json:"model_version"`
	WindowEnd    int64     `json:"window_end"` // unix ms of the newest reading scored
	TS           int64     `json:"ts"`         // when the prediction was made, unix ms
	Score        float64   `json:"score"`
	Outputs      []float32 `json:"outputs,omitempty"`
	FeatureHash  string    `json:"feature_hash"`
}

// alertValue is the value of an edgepm.alerts record and of the local MQTT
// alert message.
type alertValue struct {
	V            int     `json:"v"`
	Gateway      string  `json:"gateway"`
	Device       string  `json:"device"`
	Model        string  `json:"model"`
	ModelVersion string  `json:"model_version"`
	State        string  `json:"state"` // raised | cleared
	Score        float64 `json:"score"`
	Threshold    float64 `json:"threshold"`
	TS           int64   `json:"ts"`
}

// deadletterValue is the value of an edgepm.deadletter record.
type deadletterValue struct {
	V        int    `json:"v"`
	Gateway  string `json:"gateway"`
	Topic    string `json:"topic"`
	Device   string `json:"device,omitempty"`
	Reason   string `json:"reason"`
	Error    string `json:"error"`
	Received int64  `json:"received"`
	Payload  []byte `json:"payload"` // raw MQTT payload, base64 in JSON; at most max_payload_bytes
	// PayloadBytes is the payload's full length; Truncated says Payload
	// holds only its first max_payload_bytes.
	PayloadBytes int  `json:"payload_bytes"`
	Truncated    bool `json:"truncated,omitempty"`
}

func unixMs(t time.Time) int64 { return t.UnixMilli() }

// mustJSON marshals values whose types cannot fail to marshal (no channels,
// funcs or non-finite floats: values are validated before they get here).
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only reachable through a programming error; keep the data
		// path alive and make the problem visible in the record.
		b, _ = json.Marshal(map[string]string{"marshal_error": err.Error()})
	}
	return b
}
