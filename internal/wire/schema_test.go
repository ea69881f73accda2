package wire_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

func loadSchemas(t *testing.T) *schematest.Set {
	t.Helper()
	s, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every event type wire names has a schema, and every event schema names a
// type wire knows.
func TestEveryEventTypeHasSchema(t *testing.T) {
	have := loadSchemas(t).EventTypes()
	slices.Sort(have)
	want := slices.Clone(wire.EventTypes)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Fatalf("event schemas %v\nevent types   %v", have, want)
	}
}

// What wire's builders write matches the schemas.
func TestBuiltValuesMatchSchemas(t *testing.T) {
	s := loadSchemas(t)
	at := time.UnixMilli(1763726410123)
	r := wire.Reading{Gateway: "gw", Device: "d", Fields: map[string]string{"site": "s"}, TS: 1, Received: 2, DeviceSeq: 3,
		Values: map[string]float64{"t": 1.5}, Waveform: &wire.Waveform{Channel: "v", RateHz: 10, Samples: []float64{1}}}
	p := wire.Prediction{Gateway: "gw", Device: "d", Model: "m", ModelVersion: "1", WindowEnd: 1, TS: 2, Score: 0.5,
		Outputs: []float32{0.5}, FeatureHash: "0123456789abcdef"}
	values := map[string][]byte{
		"readings":    wire.AppendReading(nil, &r, nil),
		"predictions": wire.AppendPrediction(nil, &p),
		"alerts": wire.MustJSON(wire.Alert{V: wire.Version, Gateway: "gw", Device: "d", Model: "m", ModelVersion: "1",
			State: wire.AlertRaised, Score: 0.9, Threshold: 0.8, TS: 5}),
		"deadletter": wire.MustJSON(wire.DeadLetter{V: wire.Version, Gateway: "gw", Topic: "a/b", Reason: "malformed_json",
			Error: "bad", Received: 5, Payload: []byte("{"), PayloadBytes: 1}),
		"labels": wire.MustJSON(wire.Label{V: wire.Version, Device: "d", TS: 5, Kind: wire.LabelFailure, Reported: 9, Text: "bearing seized"}),
	}
	agree, diff := 0.97, 0.01
	hb, err := wire.HeartbeatRecord(&wire.Heartbeat{V: wire.HeartbeatSchema, Gateway: "gw", TS: at, IntervalSeconds: 30,
		Version: "1.2.3", StartedAt: at.Add(-time.Hour), UptimeSeconds: 3600, Ready: true,
		Model:  &wire.HeartbeatModel{Name: "m", Version: "2", State: "active", KeyID: "k", Counter: 7, ActivatedAt: &at},
		Shadow: &wire.HeartbeatShadow{Name: "m", Version: "3", State: "active", Windows: 10, AlertAgreement: &agree, MeanAbsDiff: &diff},
		Uplink: wire.HeartbeatUplink{State: "online"}, Buffer: wire.HeartbeatBuffer{Bytes: 10, MaxBytes: 100},
		Ingest: wire.HeartbeatIngest{Connected: true, ReadingsPerSec: 2}, Drift: &wire.HeartbeatDrift{Drifting: 1, Features: []string{"t.mean"}, MaxScore: 4},
		Conditions: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	values["gateways"] = hb.Value
	for stream, v := range values {
		if err := s.Validate(stream, v); err != nil {
			t.Error(err)
		}
	}
	events := []buffer.Record{
		wire.DroppedEvent("gw", buffer.DropReport{Stream: "readings", Reason: buffer.ReasonTTL, Records: 1, Bytes: 30, FirstSeq: 1, LastSeq: 1, Since: at, At: at}),
		wire.RecoveredEvent("gw", buffer.RecoveryReport{MovedTo: "/x", Err: errors.New("bad"), At: at}),
		wire.EventRecord("gw", wire.EventGatewayStopped, at, nil),
		wire.EventRecord("gw", wire.EventModelRejected, at, map[string]any{"model": "m", "reason": "signature", "error": "no key"}),
		wire.EventRecord("gw", wire.EventDeviceOffline, at, map[string]any{"device": "gw1/pump-7", "cause": "NDEATH", "bd_seq": uint64(3)}),
		wire.EventRecord("gw", wire.EventDeviceOnline, at, map[string]any{"device": "gw1", "cause": "NBIRTH", "bd_seq": uint64(4)}),
	}
	for _, e := range events {
		if err := s.Validate("events", e.Value); err != nil {
			t.Error(err)
		}
	}
}

// The schemas reject values that break them: a missing or renamed field, a
// wrong type, a wrong version, an unknown event type, a detail that does not
// belong to its type.
func TestSchemasRejectBadValues(t *testing.T) {
	s := loadSchemas(t)
	bad := []struct{ stream, value string }{
		{"readings", `{"v":1,"gateway":"gw","device":"d","ts":1}`},                                 // no received
		{"readings", `{"v":2,"gateway":"gw","device":"d","ts":1,"received":2}`},                    // other version
		{"readings", `{"v":1,"gateway":"gw","device":"d","ts":1,"received":2,"values":{"t":"x"}}`}, // value not a number
		{"predictions", `{"v":1,"gateway":"gw","device":"d","model":"m","model_version":"1","window_end":1,"ts":2,"score":0.5,"featurehash":"0123456789abcdef"}`},
		{"alerts", `{"v":1,"gateway":"gw","device":"d","model":"m","model_version":"1","state":"up","score":1,"threshold":1,"ts":1}`},
		{"deadletter", `{"v":1,"gateway":"gw","topic":"t","reason":"nope","error":"e","received":1,"payload":"","payload_bytes":0}`},
		{"labels", `{"v":1,"device":"d","ts":1,"kind":"broken"}`},                 // unknown kind
		{"labels", `{"v":1,"device":"d","kind":"failure"}`},                       // no ts
		{"labels", `{"v":1,"device":"d","ts":1,"kind":"failure","gateway":"gw"}`}, // not a label field
		{"events", `{"v":1,"gateway":"gw","type":"gateway.exploded","ts":1}`},
		{"gateways", `{"v":1,"gateway":"gw","ts":1,"interval_s":30,"version":"x","started_at":"2026-01-01T00:00:00Z","uptime_s":1,"ready":true,"uplink":{"state":"online","backlog_records":0,"backlog_oldest_age_s":0},"buffer":{"bytes":0,"max_bytes":1,"dropped":0},"alerts_active":0,"devices":0,"ingest":{"connected":true,"readings_per_s":0,"invalid_per_s":0,"seq_missing":0},"conditions":[]}`}, // ts not a time
		{"events", `{"v":1,"gateway":"gw","type":"gateway.stopped","ts":1,"detail":{"x":1}}`},
		{"events", `{"v":1,"gateway":"gw","type":"buffer.dropped","ts":1,"detail":{"stream":"readings","reason":"ttl"}}`},
		{"events", `{"v":1,"gateway":"gw","type":"uplink.online","ts":"now","detail":{"previous":"offline","offline_seconds":1}}`},
	}
	for _, b := range bad {
		if err := s.Validate(b.stream, []byte(b.value)); err == nil {
			t.Errorf("%s value accepted: %s", b.stream, b.value)
		}
	}
}
