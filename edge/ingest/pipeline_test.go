package ingest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// ackRecorder records acknowledgements in order.
type ackRecorder struct {
	mu   sync.Mutex
	acks []string
}

type ackFunc func()

func (f ackFunc) Ack() { f() }

func (r *ackRecorder) message(tt *TopicTemplate, topic, payload string) *Message {
	m := &Message{Topic: topic, Payload: []byte(payload), QoS: 1, Template: tt, Received: testNow}
	m.ack = ackFunc(func() {
		r.mu.Lock()
		r.acks = append(r.acks, topic)
		r.mu.Unlock()
	})
	return m
}

func mustTemplate(t *testing.T, s string) *TopicTemplate {
	t.Helper()
	tt, err := ParseTopicTemplate(s)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// A batch reaches the sink decoded (readings, dead letters, stuck-sensor
// changes), and its messages are acknowledged in order after the commit,
// and not at all when the commit fails.
func TestPipeline(t *testing.T) {
	tt := mustTemplate(t, "plant/{site}/{device}/telemetry")
	subs := []Subscription{{Topic: tt.String(), Format: FormatEdgepm}}
	var snap []Batch // the readings' values are only valid during the sink call
	fail := false
	sink := func(b *Batch) func() error {
		c := *b
		c.Readings = nil
		for _, r := range b.Readings {
			r.Values = map[string]float64{"v": r.Values["v"]}
			c.Readings = append(c.Readings, r)
		}
		snap = append(snap, c)
		failed := fail
		return func() error {
			if failed {
				return errors.New("disk full")
			}
			return nil
		}
	}
	p, err := NewPipeline(subs, ValidationConfig{StuckAfter: 2}, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &ackRecorder{}
	msgs := make(chan *Message, 10)
	msgs <- rec.message(tt, "plant/s1/pump-1/telemetry", `{"ts":1780000000001,"values":{"v":1}}`)
	msgs <- rec.message(tt, "plant/s1/pump-1/telemetry", `{"ts":1780000000002,"values":{"v":1}}`)
	msgs <- rec.message(tt, "plant/s1/pump-2/telemetry", `{"values":`)
	msgs <- rec.message(tt, "other/pump-3", `{"values":{"v":1}}`)
	close(msgs)
	p.Run(msgs)
	if len(snap) != 1 {
		t.Fatalf("%d batches, want 1", len(snap))
	}
	b := snap[0]
	if len(b.Messages) != 4 || len(b.Readings) != 2 || b.Readings[0].Fields["site"] != "s1" || b.Readings[1].Values["v"] != 1 {
		t.Fatalf("batch %+v", b)
	}
	if len(b.Invalid) != 2 || b.Invalid[0].Err.Reason != ReasonMalformed || b.Invalid[0].Device != "pump-2" ||
		b.Invalid[1].Err.Reason != ReasonBadTopic || b.Invalid[1].Device != "" {
		t.Fatalf("invalid %+v", b.Invalid)
	}
	if len(b.Stuck) != 1 || !b.Stuck[0].Stuck || b.Stuck[0].Device != "pump-1" || !b.Stuck[0].At.Equal(testNow) ||
		p.StuckSensors() != 1 {
		t.Fatalf("stuck %+v", b.Stuck)
	}
	if b.MaxPayloadBytes != DefaultMaxPayloadBytes {
		t.Fatalf("max payload %d", b.MaxPayloadBytes)
	}
	if want := "plant/s1/pump-1/telemetry plant/s1/pump-1/telemetry plant/s1/pump-2/telemetry other/pump-3"; strings.Join(rec.acks, " ") != want {
		t.Fatalf("acks %q, want %q", rec.acks, want)
	}
	if !p.OldestUnacked().IsZero() || time.Since(p.LastTurn()) > time.Minute {
		t.Fatalf("oldest unacked %s, last turn %s", p.OldestUnacked(), p.LastTurn())
	}

	// A failed commit acknowledges nothing; a reload of the stuck settings
	// reports the stuck sensor recovered.
	fail = true
	rec.acks = nil
	if err := p.SetValidation(ValidationConfig{}); err != nil {
		t.Fatal(err)
	}
	msgs = make(chan *Message, 1)
	msgs <- rec.message(tt, "plant/s1/pump-1/telemetry", `{"values":{"v":2}}`)
	close(msgs)
	p.Run(msgs)
	if len(rec.acks) != 0 {
		t.Fatalf("acknowledged after a failed commit: %q", rec.acks)
	}
	if b := snap[1]; len(b.Stuck) != 1 || b.Stuck[0].Stuck || p.StuckSensors() != 0 {
		t.Fatalf("reload: stuck %+v", b.Stuck)
	}
}

// Each subscription decodes with its own format's decoder; an unknown
// format is refused with the config key.
func TestPipelineFormats(t *testing.T) {
	subs := []Subscription{{Topic: "a/{device}"}, {Topic: "b/{device}", Format: "protobuf"}}
	_, err := NewPipeline(subs, ValidationConfig{}, func(*Batch) func() error { return nil }, nil)
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "mqtt.subscriptions[1].format") {
		t.Fatalf("got %v", err)
	}
	if _, err := NewDecoder("csv", ValidationConfig{}); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "known: edgepm, flat, sparkplug_b, telegraf") {
		t.Fatalf("got %v", err)
	}
}
