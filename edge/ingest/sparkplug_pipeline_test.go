package ingest

import (
	"fmt"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
)

// The Pipeline lends a sparkplug_b subscription its session: births before
// a reload still resolve aliases after it (SetValidation builds new
// decoders), presence changes reach the Sink in Batch.Presence, and
// rebirth requests go through SetPublish.
func TestPipelineSparkplugSession(t *testing.T) {
	cfg := &SparkplugConfig{Rebirth: RebirthConfig{Enabled: true}}
	cfg.setDefaults()
	subs := []Subscription{{Format: FormatSparkplugB, Sparkplug: cfg}}
	tt := sparkplugTemplate(cfg)
	var got []string
	sink := func(b *Batch) func() error {
		for _, r := range b.Readings {
			got = append(got, fmt.Sprintf("%s %v", r.Device, r.Values))
		}
		for _, inv := range b.Invalid {
			got = append(got, inv.Err.Reason)
		}
		for _, c := range b.Presence {
			got = append(got, fmt.Sprintf("%s online=%v", c.Device, c.Online))
		}
		return func() error { return nil }
	}
	p, err := NewPipeline(subs, ValidationConfig{}, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	p.SetPublish(func(topic string, _ byte, _ bool, _ []byte) error { sent = append(sent, topic); return nil })
	rec := &ackRecorder{}
	run := func(msgs ...*Message) {
		ch := make(chan *Message, len(msgs))
		for _, m := range msgs {
			ch <- m
		}
		close(ch)
		p.Run(ch)
	}
	msg := func(topic string, payload []byte) *Message {
		m := rec.message(tt, topic, string(payload))
		m.Received = time.Now() // spPay's timestamps are now
		return m
	}
	run(msg(tNBIRTH, spPay(0, bdSeq(1))),
		msg(tDBIRTH, spPay(1, birthMetric("temp", 7, sim.SparkplugDouble, 60))))
	if err := p.SetValidation(ValidationConfig{MaxPayloadBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	run(msg(tDDATA, spPay(2, aliasMetric(7, sim.SparkplugDouble, 61))),
		msg(tDDATA, spPay(4, aliasMetric(7, sim.SparkplugDouble, 62))),
		msg(tDDEATH, spPay(5)))
	want := "[gw1/pump-7 map[temp:60] gw1 online=true gw1/pump-7 online=true gw1/pump-7 map[temp:61] seq_gap gw1/pump-7 online=false]"
	if fmt.Sprint(got) != want {
		t.Errorf("sink saw\n %v\nwant\n %s", got, want)
	}
	if len(rec.acks) != 5 || fmt.Sprint(sent) != "[spBv1.0/plant/NCMD/gw1]" || p.RebirthRequests() != 1 {
		t.Errorf("acks %v, rebirth requests %v (%d)", rec.acks, sent, p.RebirthRequests())
	}
}
