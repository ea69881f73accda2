package wire

import (
	"encoding/json"
	"time"
)

// Reading is the value of an edgepm.readings record
// (docs/schemas/reading.schema.json).
type Reading struct {
	V         int                `json:"v"`
	Gateway   string             `json:"gateway"`
	Device    string             `json:"device"`
	Fields    map[string]string  `json:"fields,omitempty"`
	TS        int64              `json:"ts"`       // device time, unix ms
	Received  int64              `json:"received"` // gateway receive time, unix ms
	DeviceSeq uint64             `json:"device_seq,omitempty"`
	Values    map[string]float64 `json:"values,omitempty"`
	Waveform  *Waveform          `json:"waveform,omitempty"`
}

// Waveform is a reading's waveform block.
type Waveform struct {
	Channel string    `json:"channel"`
	RateHz  float64   `json:"rate_hz"`
	Samples []float64 `json:"samples"`
}

// Prediction is the value of an edgepm.predictions record
// (docs/schemas/prediction.schema.json).
type Prediction struct {
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

// Alert is the value of an edgepm.alerts record and of the local MQTT alert
// message (docs/schemas/alert.schema.json).
type Alert struct {
	V            int     `json:"v"`
	Gateway      string  `json:"gateway"`
	Device       string  `json:"device"`
	Model        string  `json:"model"`
	ModelVersion string  `json:"model_version"`
	State        string  `json:"state"` // AlertRaised | AlertCleared
	Score        float64 `json:"score"`
	Threshold    float64 `json:"threshold"`
	TS           int64   `json:"ts"`
}

// Alert states.
const (
	AlertRaised  = "raised"
	AlertCleared = "cleared"
)

// DeadLetter is the value of an edgepm.deadletter record
// (docs/schemas/deadletter.schema.json).
type DeadLetter struct {
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

// UnixMs is a time as the values carry it: unix milliseconds.
func UnixMs(t time.Time) int64 { return t.UnixMilli() }

// MustJSON marshals a value whose type cannot fail to marshal (no channels,
// funcs or non-finite floats: values are validated before they get here).
// Should it fail all the same (a programming error), the result is
// {"marshal_error": "..."}, so the data path stays alive and the problem
// shows in the record.
func MustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"marshal_error": err.Error()})
	}
	return b
}
