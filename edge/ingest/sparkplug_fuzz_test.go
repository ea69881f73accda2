package ingest

import (
	"errors"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
)

// FuzzSparkplugDecode feeds arbitrary payloads on each Sparkplug message
// type to one session, after a birth: decoding never panics, every error
// is an *InvalidError with a known reason, every reading is valid, and the
// session stays within its bounds.
//
//	go test -run '^$' -fuzz FuzzSparkplugDecode -fuzztime 20s ./edge/ingest
func FuzzSparkplugDecode(f *testing.F) {
	now := time.UnixMilli(1780000000000)
	birth := sim.AppendSparkplugPayload(nil, now, 0, []sim.SparkplugMetric{
		{Name: "bdSeq", Type: sim.SparkplugUInt64},
		{Name: "temp", Alias: 1, HasAlias: true, Type: sim.SparkplugDouble, Value: 1},
		{Name: "on", Alias: 2, HasAlias: true, Type: sim.SparkplugBoolean, Value: 1},
	})
	f.Add(uint8(0), birth)
	f.Add(uint8(1), sim.AppendSparkplugPayload(nil, now, 1, []sim.SparkplugMetric{{Alias: 1, HasAlias: true, Type: sim.SparkplugDouble, Value: 2}}))
	f.Add(uint8(4), birth)
	f.Add(uint8(5), sim.AppendSparkplugPayload(nil, now, 2, []sim.SparkplugMetric{{Alias: 2, HasAlias: true, Type: sim.SparkplugBoolean}}))
	f.Add(uint8(2), sim.AppendSparkplugPayload(nil, now, 0, []sim.SparkplugMetric{{Name: "bdSeq", Type: sim.SparkplugUInt64}}))
	f.Add(uint8(1), []byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f})
	topics := []string{tNBIRTH, tNDATA, tNDEATH, "spBv1.0/plant/NCMD/gw1", tDBIRTH, tDDATA, tDDEATH}
	known := map[string]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	f.Fuzz(func(t *testing.T, kind uint8, payload []byte) {
		h := newSpHarness(t, SparkplugConfig{Rebirth: RebirthConfig{Enabled: true}})
		h.now = now
		if _, r := h.send(tNBIRTH, birth); r != "" {
			t.Fatalf("birth: %s", r)
		}
		topic := topics[int(kind)%len(topics)]
		device, fields, _ := h.tt.Match(topic)
		rs, err := h.d.Decode(nil, Source{Device: device, Fields: fields, Received: now, Topic: topic}, payload)
		var ie *InvalidError
		switch {
		case err != nil && (!errors.As(err, &ie) || !known[ie.Reason]):
			t.Fatalf("error %v: not an InvalidError with a known reason", err)
		case err != nil && rs != nil:
			t.Fatalf("readings %v with error %v", rs, err)
		}
		v := ValidationConfig{}
		v.SetDefaults()
		for i := range rs {
			if err := (&rules{cfg: v}).reading(&rs[i]); err != nil {
				t.Fatalf("invalid reading %+v: %v", rs[i], err)
			}
		}
		if s := h.session(); s.entities > MaxSparkplugEntities || s.defs > MaxSparkplugDefinitions || len(s.pay.metrics) > MaxSparkplugMetrics {
			t.Fatalf("session beyond its bounds: %d entities, %d definitions", s.entities, s.defs)
		}
	})
}
