package ingest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
)

// spHarness drives one sparkplug_b decoder (its own session) as the
// Pipeline would: each topic matched by the subscription's template first.
type spHarness struct {
	t       *testing.T
	d       Decoder
	tt      *TopicTemplate
	now     time.Time
	sent    []string // topics of published rebirth requests
	changes []PresenceChange
}

func newSpHarness(t *testing.T, cfg SparkplugConfig) *spHarness {
	t.Helper()
	cfg.setDefaults()
	sub := Subscription{Format: FormatSparkplugB, Sparkplug: &cfg}
	v := ValidationConfig{}
	v.SetDefaults()
	d, err := newDecoder(&sub, &rules{cfg: v})
	if err != nil {
		t.Fatal(err)
	}
	h := &spHarness{t: t, d: d, tt: sparkplugTemplate(&cfg), now: time.Now()}
	h.session().publish = func(topic string, qos byte, retain bool, payload []byte) error {
		h.sent = append(h.sent, topic)
		return nil
	}
	return h
}

func (h *spHarness) session() *spSession {
	return h.d.(admitting).format.(*sparkplugDecoder).own
}

// send decodes payload on topic; it returns the readings or the reason
// of the error ("" when none).
func (h *spHarness) send(topic string, payload []byte) ([]Reading, string) {
	h.t.Helper()
	h.now = h.now.Add(time.Second)
	device, fields, ok := h.tt.Match(topic)
	if !ok {
		return nil, ReasonBadTopic
	}
	rs, err := h.d.Decode(nil, Source{Device: device, Fields: fields, Received: h.now, Topic: topic}, payload)
	h.changes = h.session().takeChanges(h.changes)
	if err != nil {
		var ie *InvalidError
		if !errors.As(err, &ie) {
			h.t.Fatalf("%s: error %v is not an InvalidError", topic, err)
		}
		return nil, ie.Reason
	}
	return rs, ""
}

// mustRead sends and wants one reading of device with values.
func (h *spHarness) mustRead(topic string, payload []byte, device string, values map[string]float64) {
	h.t.Helper()
	rs, reason := h.send(topic, payload)
	if reason != "" {
		h.t.Fatalf("%s: rejected as %s", topic, reason)
	}
	if len(rs) != 1 || rs[0].Device != device || fmt.Sprint(rs[0].Values) != fmt.Sprint(values) {
		h.t.Fatalf("%s: got %+v, want one reading of %s with %v", topic, rs, device, values)
	}
}

func (h *spHarness) mustReject(topic string, payload []byte, reason string) {
	h.t.Helper()
	if _, got := h.send(topic, payload); got != reason {
		h.t.Fatalf("%s: got reason %q, want %q", topic, got, reason)
	}
}

func spPay(seq uint64, ms ...sim.SparkplugMetric) []byte {
	return sim.AppendSparkplugPayload(nil, time.Now(), seq, ms)
}

func birthMetric(name string, alias uint64, typ uint32, v float64) sim.SparkplugMetric {
	return sim.SparkplugMetric{Name: name, Alias: alias, HasAlias: true, Type: typ, Value: v}
}

func aliasMetric(alias uint64, typ uint32, v float64) sim.SparkplugMetric {
	return sim.SparkplugMetric{Alias: alias, HasAlias: true, Type: typ, Value: v}
}

func bdSeq(v uint64) sim.SparkplugMetric {
	return sim.SparkplugMetric{Name: "bdSeq", Type: sim.SparkplugUInt64, Value: float64(v)}
}

const (
	tNBIRTH = "spBv1.0/plant/NBIRTH/gw1"
	tNDATA  = "spBv1.0/plant/NDATA/gw1"
	tNDEATH = "spBv1.0/plant/NDEATH/gw1"
	tDBIRTH = "spBv1.0/plant/DBIRTH/gw1/pump-7"
	tDDATA  = "spBv1.0/plant/DDATA/gw1/pump-7"
	tDDEATH = "spBv1.0/plant/DDEATH/gw1/pump-7"
)

// TestSparkplugSession walks one edge node through births, alias-only
// data, a device death, a seq gap, a stale and a real node death and a
// rebirth with a new bdSeq.
func TestSparkplugSession(t *testing.T) {
	h := newSpHarness(t, SparkplugConfig{})
	h.mustReject(tNDATA, spPay(1, aliasMetric(1, sim.SparkplugDouble, 1)), ReasonNoBirth)
	h.mustRead(tNBIRTH, spPay(0, bdSeq(3),
		birthMetric("Node Control/Rebirth", 0, sim.SparkplugBoolean, 0),
		birthMetric("cpu_temp", 1, sim.SparkplugFloat, 41.5),
		sim.SparkplugMetric{Name: "firmware", Alias: 2, HasAlias: true, Type: sim.SparkplugString, Text: "v1"}),
		"gw1", map[string]float64{"cpu_temp": 41.5})
	h.mustRead(tNDATA, spPay(1, aliasMetric(1, sim.SparkplugFloat, 42)), "gw1", map[string]float64{"cpu_temp": 42})
	h.mustReject(tDDATA, spPay(2, aliasMetric(1, sim.SparkplugDouble, 1)), ReasonNoBirth)
	h.mustRead(tDBIRTH, spPay(3,
		birthMetric("temp", 10, sim.SparkplugDouble, 61.25),
		birthMetric("running", 11, sim.SparkplugBoolean, 1),
		birthMetric("delta", 12, sim.SparkplugInt32, -5),
		birthMetric("count", 13, sim.SparkplugInt64, -7)),
		"gw1/pump-7", map[string]float64{"count": -7, "delta": -5, "running": 1, "temp": 61.25})
	h.mustRead(tDDATA, spPay(4, aliasMetric(10, sim.SparkplugDouble, 62), aliasMetric(11, sim.SparkplugBoolean, 0)),
		"gw1/pump-7", map[string]float64{"running": 0, "temp": 62})
	h.mustRead(tDDATA, spPay(5, sim.SparkplugMetric{Name: "temp", Type: sim.SparkplugDouble, Value: 63}),
		"gw1/pump-7", map[string]float64{"temp": 63})
	h.mustReject(tDDATA, spPay(6, aliasMetric(99, sim.SparkplugDouble, 1)), ReasonUnknownAlias)
	h.mustReject(tDDATA, spPay(10, aliasMetric(10, sim.SparkplugDouble, 1)), ReasonSeqGap)
	h.mustRead(tDDATA, spPay(11, aliasMetric(10, sim.SparkplugDouble, 64)), "gw1/pump-7", map[string]float64{"temp": 64})
	if rs, r := h.send(tNDATA, spPay(12, aliasMetric(2, sim.SparkplugString, 0))); r != "" || len(rs) != 0 {
		t.Fatalf("string-only data: got %v %q, want no reading and no error", rs, r)
	}
	h.mustReject(tDDEATH, spPay(14), ReasonSeqGap)
	if _, r := h.send(tDDEATH, spPay(15)); r != "" {
		t.Fatalf("DDEATH rejected: %s", r)
	}
	h.mustReject(tDDATA, spPay(16, aliasMetric(10, sim.SparkplugDouble, 1)), ReasonNoBirth)
	h.mustRead(tDBIRTH, spPay(17, birthMetric("temp", 10, sim.SparkplugDouble, 65)), "gw1/pump-7", map[string]float64{"temp": 65})
	if _, r := h.send(tNDEATH, spPay(0, bdSeq(2))); r != "" { // a late will of an earlier session
		t.Fatalf("stale NDEATH rejected: %s", r)
	}
	h.mustRead(tDDATA, spPay(18, aliasMetric(10, sim.SparkplugDouble, 66)), "gw1/pump-7", map[string]float64{"temp": 66})
	if _, r := h.send(tNDEATH, spPay(0, bdSeq(3))); r != "" {
		t.Fatalf("NDEATH rejected: %s", r)
	}
	h.mustReject(tDDATA, spPay(19, aliasMetric(10, sim.SparkplugDouble, 1)), ReasonNoBirth)
	h.mustRead(tNBIRTH, spPay(0, bdSeq(4), birthMetric("cpu_temp", 1, sim.SparkplugFloat, 40)), "gw1", map[string]float64{"cpu_temp": 40})
	h.mustReject(tDDATA, spPay(1, aliasMetric(10, sim.SparkplugDouble, 1)), ReasonNoBirth) // devices are born again after NBIRTH

	want := []string{"gw1 online NBIRTH 3", "gw1/pump-7 online DBIRTH 3", "gw1/pump-7 offline DDEATH 3",
		"gw1/pump-7 online DBIRTH 3", "gw1 offline NDEATH 3", "gw1/pump-7 offline NDEATH 3", "gw1 online NBIRTH 4"}
	var got []string
	for _, c := range h.changes {
		state := "offline"
		if c.Online {
			state = "online"
		}
		got = append(got, fmt.Sprintf("%s %s %s %d", c.Device, state, c.Cause, c.BdSeq))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("presence changes:\n got %q\nwant %q", got, want)
	}
	if len(h.sent) != 0 {
		t.Errorf("rebirth requests sent while disabled: %v", h.sent)
	}
}

// TestSparkplugBadPayloads: malformed and truncated protobuf, too many
// metrics, compressed payloads and birth errors are rejected with their
// reason; commands are acknowledged without a reading.
func TestSparkplugBadPayloads(t *testing.T) {
	birth := spPay(0, bdSeq(1), birthMetric("temp", 1, sim.SparkplugDouble, 1))
	many := make([]sim.SparkplugMetric, MaxSparkplugMetrics+1)
	for i := range many {
		many[i] = aliasMetric(1, sim.SparkplugDouble, 1)
	}
	cases := []struct {
		name, topic string
		payload     []byte
		reason      string
	}{
		{"garbage", tNDATA, []byte("{\"temp\": 1}"), ReasonMalformedProto},
		{"truncated", tNBIRTH, birth[:len(birth)-3], ReasonMalformedProto},
		{"wrong wire type", tNDATA, []byte{0x1a, 0x01, 0x00}, ReasonMalformedProto}, // seq as bytes
		{"too many metrics", tNDATA, spPay(1, many...), ReasonTooLarge},
		{"compressed", tNDATA, append(spPay(1), 0x22, 0x12, 'S', 'P', 'B', 'V', '1', '.', '0', '_', 'C', 'O', 'M', 'P', 'R', 'E', 'S', 'S', 'E', 'D'), ReasonMalformedProto},
		{"birth without bdSeq", tNBIRTH, spPay(0, birthMetric("temp", 1, sim.SparkplugDouble, 1)), ReasonMissing},
		{"birth metric without name", tNBIRTH, spPay(0, bdSeq(1), aliasMetric(1, sim.SparkplugDouble, 1)), ReasonMissing},
		{"birth alias twice", tNBIRTH, spPay(0, bdSeq(1), birthMetric("a", 1, sim.SparkplugDouble, 1), birthMetric("b", 1, sim.SparkplugDouble, 1)), ReasonMalformedProto},
		{"device topic on node type", "spBv1.0/plant/NDATA/gw1/x", spPay(1), ReasonBadTopic},
		{"unknown type", "spBv1.0/plant/NFOO/gw1", spPay(1), ReasonBadTopic},
		{"non-finite", tNBIRTH, spPay(0, bdSeq(1), birthMetric("temp", 1, sim.SparkplugDouble, math.Inf(1))), ReasonNonFinite},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newSpHarness(t, SparkplugConfig{})
			h.mustReject(c.topic, c.payload, c.reason)
		})
	}
	h := newSpHarness(t, SparkplugConfig{})
	if rs, r := h.send("spBv1.0/plant/NCMD/gw1", rebirthPayload(time.Now())); r != "" || len(rs) != 0 {
		t.Errorf("NCMD: got %v %q, want nothing", rs, r)
	}
}

// TestSparkplugSeqWraps: seq goes 254, 255, 0, 1 without a gap.
func TestSparkplugSeqWraps(t *testing.T) {
	h := newSpHarness(t, SparkplugConfig{})
	h.mustRead(tNBIRTH, spPay(253, bdSeq(1), birthMetric("temp", 1, sim.SparkplugDouble, 1)), "gw1", map[string]float64{"temp": 1})
	for _, seq := range []uint64{254, 255, 0, 1} {
		h.mustRead(tNDATA, spPay(seq, aliasMetric(1, sim.SparkplugDouble, float64(seq))), "gw1", map[string]float64{"temp": float64(seq)})
	}
}

// TestSparkplugRebirth: with rebirth enabled, data that cannot be read
// sends an NCMD Node Control/Rebirth to its edge node, at most once per
// min_interval per node.
func TestSparkplugRebirth(t *testing.T) {
	h := newSpHarness(t, SparkplugConfig{Rebirth: RebirthConfig{Enabled: true, MinInterval: 5 * time.Second}})
	for i := range 7 { // one a second (send's clock): requests at the 1st and the 6th
		h.mustReject(tNDATA, spPay(uint64(i), aliasMetric(1, sim.SparkplugDouble, 1)), ReasonNoBirth)
	}
	h.mustReject("spBv1.0/plant/DDATA/gw2/m", spPay(1, aliasMetric(1, sim.SparkplugDouble, 1)), ReasonNoBirth)
	want := []string{"spBv1.0/plant/NCMD/gw1", "spBv1.0/plant/NCMD/gw1", "spBv1.0/plant/NCMD/gw2"}
	if fmt.Sprint(h.sent) != fmt.Sprint(want) {
		t.Errorf("requests: got %v, want %v", h.sent, want)
	}
	var p spPayload
	if err := p.parse(rebirthPayload(time.Now())); err != nil || len(p.metrics) != 1 ||
		string(p.metrics[0].name) != spRebirthMetric || p.metrics[0].kind != spBoolValue || p.metrics[0].bits != 1 {
		t.Errorf("rebirth payload: %+v %v", p, err)
	}
}

// TestSparkplugStateBounded: births of ever new devices keep at most
// MaxSparkplugEntities nodes and devices; the oldest are evicted (their
// data is then no_birth) and the newest still read.
func TestSparkplugStateBounded(t *testing.T) {
	h := newSpHarness(t, SparkplugConfig{})
	h.mustRead(tNBIRTH, spPay(0, bdSeq(1), birthMetric("temp", 1, sim.SparkplugDouble, 1)), "gw1", map[string]float64{"temp": 1})
	n := MaxSparkplugEntities + 100
	for i := 1; i <= n; i++ {
		topic := fmt.Sprintf("spBv1.0/plant/DBIRTH/gw1/d%d", i)
		if _, r := h.send(topic, spPay(uint64(i%256), birthMetric("temp", 1, sim.SparkplugDouble, 1))); r != "" {
			t.Fatalf("%s: %s", topic, r)
		}
	}
	s := h.session()
	if s.entities > MaxSparkplugEntities || s.defs > MaxSparkplugDefinitions {
		t.Fatalf("state holds %d entities, %d definitions; limits %d, %d", s.entities, s.defs, MaxSparkplugEntities, MaxSparkplugDefinitions)
	}
	seq := uint64(n+1) % 256
	h.mustReject("spBv1.0/plant/DDATA/gw1/d1", spPay(seq, aliasMetric(1, sim.SparkplugDouble, 2)), ReasonNoBirth)
	h.mustRead(fmt.Sprintf("spBv1.0/plant/DDATA/gw1/d%d", n), spPay((seq+1)%256, aliasMetric(1, sim.SparkplugDouble, 2)),
		fmt.Sprintf("gw1/d%d", n), map[string]float64{"temp": 2})
}

// TestSparkplugTopics: filters and device ids from the sparkplug block.
func TestSparkplugTopics(t *testing.T) {
	cfg := SparkplugConfig{Groups: []string{"plant1"}, EdgeNodes: []string{"a", "b"}, DeviceID: "{group}.{edge_node}.{device}"}
	cfg.setDefaults()
	tt := sparkplugTemplate(&cfg)
	if got := fmt.Sprint(tt.filters()); got != "[spBv1.0/plant1/+/a/# spBv1.0/plant1/+/b/#]" {
		t.Errorf("filters: %s", got)
	}
	for topic, want := range map[string]string{
		"spBv1.0/plant1/DDATA/a/m1": "plant1.a.m1",
		"spBv1.0/plant1/NDATA/b":    "b",
		"spBv1.0/plant2/NDATA/b":    "",
		"spBv1.0/plant1/NDATA/c":    "",
		"spBv1.0/plant1/DDATA/a/":   "",
		"spBv1.0/plant1/DDATA/a/m/": "",
		"plant/x/y":                 "",
	} {
		device, _, ok := tt.Match(topic)
		if device != want || ok != (want != "") || tt.fits(topic) != ok {
			t.Errorf("%s: got %q %v, want %q", topic, device, ok, want)
		}
	}
}

// TestSparkplugMillionMetrics: a payload of 10^6 metrics is too_large by
// its size with the default limit, and by its metric count with a limit
// raised to let it through, keeping at most MaxSparkplugMetrics parsed.
func TestSparkplugMillionMetrics(t *testing.T) {
	payload := make([]byte, 0, 2_000_010)
	for range 1_000_000 {
		payload = append(payload, 0x12, 0x00) // metrics: an empty Metric
	}
	payload = append(payload, 0x18, 0x01) // seq 1
	for limit, detail := range map[int]string{0: "payload is 2000002 bytes", 4 << 20: "more than 4096 metrics"} {
		v := ValidationConfig{MaxPayloadBytes: limit}
		d, err := NewDecoder(FormatSparkplugB, v)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Decode(nil, Source{Device: "gw1", Topic: tNDATA, Received: time.Now()}, payload)
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Reason != ReasonTooLarge || !strings.Contains(ie.Detail, detail) {
			t.Fatalf("max_payload_bytes %d: got %v, want too_large: %s", limit, err, detail)
		}
		if own := d.(admitting).format.(*sparkplugDecoder).own; cap(own.pay.metrics) > 2*MaxSparkplugMetrics {
			t.Fatalf("parse buffer grew to %d metrics", cap(own.pay.metrics))
		}
	}
}

// TestSparkplugDeviceList: with validation.devices, a node's unlisted
// devices (and the node itself) are dead-lettered as unknown_device, but
// the session still reads their births and seq, so the listed device's
// data after them is neither no_birth nor a seq gap.
func TestSparkplugDeviceList(t *testing.T) {
	h := newSpHarness(t, SparkplugConfig{})
	v := ValidationConfig{Devices: []string{"gw1/pump-*"}, UnknownDevice: UnknownDeviceReject}
	v.SetDefaults()
	d, err := newDecoder(&Subscription{Format: FormatSparkplugB, Sparkplug: &SparkplugConfig{}}, &rules{cfg: v})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	h.mustReject(tNBIRTH, spPay(0, bdSeq(1), birthMetric("cpu", 1, sim.SparkplugDouble, 1)), ReasonUnknownDevice)
	h.mustRead(tDBIRTH, spPay(1, birthMetric("temp", 1, sim.SparkplugDouble, 60)), "gw1/pump-7", map[string]float64{"temp": 60})
	h.mustReject("spBv1.0/plant/DBIRTH/gw1/fan-1", spPay(2, birthMetric("rpm", 1, sim.SparkplugDouble, 900)), ReasonUnknownDevice)
	h.mustReject("spBv1.0/plant/DDATA/gw1/fan-1", spPay(3, aliasMetric(1, sim.SparkplugDouble, 901)), ReasonUnknownDevice)
	h.mustRead(tDDATA, spPay(4, aliasMetric(1, sim.SparkplugDouble, 61)), "gw1/pump-7", map[string]float64{"temp": 61})
}
