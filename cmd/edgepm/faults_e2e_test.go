package main

// Fault-injection tests (issue 7): every fault firmware-sim can inject,
// produced by the simulator's own code (sim.FaultPayloadVariant,
// sim.FaultStream, sim.Oversized, the MQTT sink's Storm, the Publisher with
// the Injector), sent through a private Mosquitto to the real edgepm binary,
// and what edgepm does with it read back from kfake (edgepm.readings,
// edgepm.deadletter, edgepm.predictions) and from /metrics.
//
// One Mosquitto, one kfake and one edgepm serve all subtests (a case that
// could spoil them gets its own Mosquitto and edgepm); each fault uses its
// own device ids. The subtests run in order because they compare
// process-wide counters before and after.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/edge/ingest"
	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// faultStreamLen is the readings per device for faults that must also be
// scored: more than the default model's window (30 readings, hop 5).
const faultStreamLen = 40

// payloadFaultCase is one payload variant the simulator produces and what
// edgepm does with it (docs/formats/mqtt-payloads.md).
type payloadFaultCase struct {
	kind    sim.FaultKind
	variant int    // sim.FaultPayloadVariant's variant
	what    string // the variant, as listed with the sim.FaultKind constants
	// reason is the dead-letter reason (an ingest.Reason constant); "" means
	// the payload is a valid reading: accepted and scored.
	reason string
	// size, when set, makes the payload sim.Oversized(variant, r, size)
	// instead of the default 1 MiB + 1.
	size int
	// own runs the case against a dedicated edgepm (and Mosquitto): its
	// failure mode would spoil the shared one.
	own bool
	// bug names a known edgepm bug this case shows: when the checks fail,
	// the case is skipped with "BUG: <bug>" and what was observed, instead
	// of failing. Remove it with the fix.
	bug string
}

// payloadFaultTable maps every payload fault variant of the simulator to
// edgepm's handling at its default validation settings. TestFaults fails for
// a variant missing here.
var payloadFaultTable = []payloadFaultCase{
	{kind: sim.FaultMalformed, variant: 0, what: "truncated", reason: ingest.ReasonMalformed},
	{kind: sim.FaultMalformed, variant: 1, what: "trailing_comma", reason: ingest.ReasonMalformed},
	{kind: sim.FaultMalformed, variant: 2, what: "single_quotes", reason: ingest.ReasonMalformed},
	{kind: sim.FaultMalformed, variant: 3, what: "empty", reason: ingest.ReasonMalformed},

	{kind: sim.FaultWrongType, variant: 0, what: "number_as_string", reason: ingest.ReasonWrongType},
	{kind: sim.FaultWrongType, variant: 1, what: "values_as_array", reason: ingest.ReasonWrongType},
	{kind: sim.FaultWrongType, variant: 2, what: "ts_as_bool", reason: ingest.ReasonBadTimestamp},
	{kind: sim.FaultWrongType, variant: 3, what: "seq_as_string", reason: ingest.ReasonWrongType},
	{kind: sim.FaultWrongType, variant: 4, what: "top_level_array", reason: ingest.ReasonWrongType},

	// NaN/Infinity tokens are not JSON: malformed_json, as documented.
	{kind: sim.FaultNaN, variant: 0, what: "NaN_token", reason: ingest.ReasonMalformed},
	{kind: sim.FaultNaN, variant: 1, what: "Infinity_token", reason: ingest.ReasonMalformed},
	{kind: sim.FaultNaN, variant: 2, what: "-Infinity_token", reason: ingest.ReasonMalformed},
	{kind: sim.FaultNaN, variant: 3, what: "1e999", reason: ingest.ReasonNonFinite},
	// The largest float64 is finite, so it is a valid value (no range is
	// configured); it must be scored without breaking the predictions or
	// /api/status (features beyond float32 are imputed, non-finite model
	// outputs are not emitted). Own edgepm: a regression would break
	// /api/status for the rest of the run.
	{kind: sim.FaultNaN, variant: 4, what: "max_float64", own: true},

	{kind: sim.FaultMissing, variant: 0, what: "no_values", reason: ingest.ReasonMissing},
	{kind: sim.FaultMissing, variant: 1, what: "empty_values", reason: ingest.ReasonMissing},
	// One sensor missing is a valid reading: the window marks it missing.
	{kind: sim.FaultMissing, variant: 2, what: "vibration_rms_missing"},
	{kind: sim.FaultMissing, variant: 3, what: "empty_object", reason: ingest.ReasonMissing},

	// The simulator's default oversized payload is 1 MiB + 1: the dead letter
	// keeps a prefix of it, marked truncated (it must fit a buffer record and
	// a Kafka batch). On a dedicated edgepm: at fd8f568 such a message wedged
	// all ingestion (the dead letter exceeded the buffer's record limit and
	// App.appendRetry retried forever).
	{kind: sim.FaultOversized, variant: 0, what: "pad_1MiB", reason: ingest.ReasonTooLarge, own: true},
	{kind: sim.FaultOversized, variant: 1, what: "many_sensors_1MiB", reason: ingest.ReasonTooLarge, own: true},
	{kind: sim.FaultOversized, variant: 0, what: "pad_just_over_limit", reason: ingest.ReasonTooLarge, size: ingest.DefaultMaxPayloadBytes + 1},
	{kind: sim.FaultOversized, variant: 1, what: "many_sensors_just_over_limit", reason: ingest.ReasonTooLarge, size: ingest.DefaultMaxPayloadBytes + 1},

	// +24h is within max_clock_skew but beyond max_future_skew (5m): a clock
	// running ahead would make the device's later readings look out of order.
	{kind: sim.FaultSkew, variant: 0, what: "24h_ahead", reason: ingest.ReasonClockSkew},
	{kind: sim.FaultSkew, variant: 1, what: "30d_behind", reason: ingest.ReasonClockSkew},
	{kind: sim.FaultSkew, variant: 2, what: "ts_0", reason: ingest.ReasonClockSkew},
	{kind: sim.FaultSkew, variant: 3, what: "ts_in_seconds", reason: ingest.ReasonClockSkew},
	{kind: sim.FaultSkew, variant: 4, what: "ts_in_microseconds", reason: ingest.ReasonClockSkew},
}

// TestFaults shows edgepm's handling of every fault kind of the simulator
// (sim.FaultKinds), end to end.
func TestFaults(t *testing.T) {
	e := startFaultEnv(t)
	tests := map[sim.FaultKind]func(*testing.T, *faultEnv, sim.FaultKind){
		sim.FaultMalformed:  testPayloadFault,
		sim.FaultWrongType:  testPayloadFault,
		sim.FaultNaN:        testPayloadFault,
		sim.FaultMissing:    testPayloadFault,
		sim.FaultOversized:  testPayloadFault,
		sim.FaultSkew:       testPayloadFault,
		sim.FaultDuplicate:  testDuplicateFault,
		sim.FaultOutOfOrder: testOutOfOrderFault,
		sim.FaultStuck:      testStuckFault,
		sim.FaultDisconnect: testDisconnectFault,
		sim.FaultBurst:      testBurstFault,
	}
	for _, kind := range sim.FaultKinds() {
		t.Run(kind.String(), func(t *testing.T) {
			fn, ok := tests[kind]
			if !ok {
				t.Fatalf("fault %q has no end-to-end test in faults_e2e_test.go", kind)
			}
			fn(t, e, kind)
		})
	}
	if err := e.healthy(); err != nil {
		t.Errorf("edgepm unhealthy after the faults: %v\nlog:\n%s", err, e.p.logs())
	}
	if strings.Contains(e.p.logs(), "mqtt connection lost") {
		t.Errorf("edgepm lost its MQTT connection during the faults; log:\n%s", e.p.logs())
	}
	if err := e.p.term(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v; log:\n%s", err, e.p.logs())
	}
}

// testPayloadFault publishes every variant of a payload fault kind (rows of
// payloadFaultTable) and checks each: rejected ones are one dead-letter
// record with the reason and the raw payload, counted by reason, and the
// device's next good reading still goes through; accepted ones are stored
// and scored.
func testPayloadFault(t *testing.T, e *faultEnv, kind sim.FaultKind) {
	var shared, own []payloadFaultCase
	for _, c := range payloadFaultTable {
		switch {
		case c.kind != kind:
		case c.own:
			own = append(own, c)
		default:
			shared = append(shared, c)
		}
	}
	for v := range sim.FaultVariants(kind) {
		if !slices.ContainsFunc(payloadFaultTable, func(c payloadFaultCase) bool {
			return c.kind == kind && c.variant == v && c.size == 0
		}) {
			t.Errorf("payloadFaultTable has no row for %v variant %d", kind, v)
		}
	}
	e.runPayloadCases(t, shared)
	if len(own) > 0 {
		e.dedicated(t).runPayloadCases(t, own)
	}
}

// runPayloadCases publishes all cases, then checks each in a subtest, then
// the invalid-message counters.
func (e *faultEnv) runPayloadCases(t *testing.T, cases []payloadFaultCase) {
	before := e.settled(t)
	sent := make([]faultSent, len(cases))
	for i, c := range cases {
		sent[i] = e.sendPayloadFault(t, c)
	}
	want := map[string]float64{}
	for i, c := range cases {
		if c.reason != "" {
			want[c.reason]++
		}
		t.Run(fmt.Sprintf("v%d_%s", c.variant, c.what), func(t *testing.T) {
			var problems []string
			if c.reason == "" {
				problems = e.checkAccepted(t, sent[i], before)
			} else {
				problems = e.checkDeadLettered(t, c, sent[i])
			}
			switch {
			case len(problems) > 0 && c.bug != "":
				t.Skipf("BUG: %s.\nObserved: %s", c.bug, strings.Join(problems, "; "))
			case len(problems) > 0:
				t.Errorf("%s", strings.Join(problems, "\n"))
			case c.bug != "":
				t.Logf("STALE BUG NOTE: the case passes; remove its bug from payloadFaultTable: %s", c.bug)
			}
		})
	}
	e.checkInvalidCounts(t, before, want)
}

// faultSent is what was published for one device.
type faultSent struct {
	device string
	topic  string
	bad    []byte // the faulty payload
	n      int    // readings (seqs 1..n) the device sent in total
}

// sendPayloadFault publishes a rejected variant as seq 1 followed by a good
// seq 2, and an accepted one inside a stream long enough to be scored.
func (e *faultEnv) sendPayloadFault(t *testing.T, c payloadFaultCase) faultSent {
	dev := fmt.Sprintf("f-%s-v%d", c.kind, c.variant)
	if c.size > 0 {
		dev += "-" + strconv.Itoa(c.size)
	}
	n := 2
	if c.reason == "" {
		n = faultStreamLen
	}
	rs := faultReadings(t, dev, n)
	payloads := encodeAll(rs)
	at := 0
	if c.reason == "" {
		at = 12 // inside each window scored (30 readings, hop 5: 1-30, 6-35, 11-40)
	}
	if c.size > 0 {
		payloads[at] = sim.Oversized(c.variant, rs[at], c.size)
	} else {
		payloads[at] = sim.FaultPayloadVariant(c.kind, c.variant, rs[at])
	}
	s := faultSent{device: dev, topic: faultTopic(dev), bad: payloads[at], n: n}
	e.publish(t, s.topic, payloads)
	return s
}

// checkDeadLettered: one dead-letter record with the reason, the topic, the
// device and the raw payload (a prefix of it for too_large), and the
// device's next reading goes through.
func (e *faultEnv) checkDeadLettered(t *testing.T, c payloadFaultCase, s faultSent) (problems []string) {
	if !waitUntil(10*time.Second, func() bool { return len(e.tap.deadLetters(s.device)) > 0 }) {
		problems = append(problems, fmt.Sprintf("no dead-letter record of the %d-byte payload in Kafka within 10s", len(s.bad)))
		if m, err := e.scrape(); err == nil {
			problems = append(problems, fmt.Sprintf("edgepm_ingest_invalid_total{reason=%q} %v, "+
				"edgepm_ingest_unacked_messages %v, edgepm_bridge_records_dropped_total %v, /readyz: %v",
				c.reason, m.get("edgepm_ingest_invalid_total", `reason="`+c.reason+`"`),
				m.get("edgepm_ingest_unacked_messages"), m.get("edgepm_bridge_records_dropped_total"), e.healthy()))
		}
		if l := lastLine(e.p.logs(), "level=ERROR"); l != "" {
			problems = append(problems, "log: "+l)
		}
		return problems
	}
	dls := e.tap.deadLetters(s.device)
	if len(dls) != 1 {
		problems = append(problems, fmt.Sprintf("%d dead-letter records for one faulty message, want 1", len(dls)))
	}
	dl := dls[0]
	if dl.Reason != c.reason || dl.Topic != s.topic || dl.Device != s.device || dl.Error == "" {
		problems = append(problems, fmt.Sprintf("dead letter = reason %q topic %q device %q error %q; want reason %q topic %q device %q and an error",
			dl.Reason, dl.Topic, dl.Device, dl.Error, c.reason, s.topic, s.device))
	}
	kept := string(dl.Payload) == string(s.bad) ||
		c.reason == ingest.ReasonTooLarge && len(dl.Payload) > 0 && bytes.HasPrefix(s.bad, dl.Payload) &&
			dl.Truncated && dl.PayloadBytes == len(s.bad)
	if !kept {
		problems = append(problems, fmt.Sprintf("dead letter keeps %d bytes %.80q (truncated %v, payload_bytes %d), "+
			"want the raw %d-byte payload %.80q (or its prefix, marked truncated)",
			len(dl.Payload), dl.Payload, dl.Truncated, dl.PayloadBytes, len(s.bad), s.bad))
	}
	if !waitUntil(10*time.Second, func() bool { return e.tap.seqs(s.device)[2] > 0 }) {
		problems = append(problems, "the device's good reading after the fault did not arrive")
	}
	if seqs := e.tap.seqs(s.device); seqs[1] != 0 {
		problems = append(problems, fmt.Sprintf("the rejected seq 1 reached edgepm.readings: %v", seqs))
	}
	return problems
}

// checkAccepted: every reading of the stream, the fault included, is in
// edgepm.readings, nothing is dead-lettered, and the device is scored with
// finite scores.
func (e *faultEnv) checkAccepted(t *testing.T, s faultSent, before faultMetrics) (problems []string) {
	e.waitAllSeqs(t, s.device, s.n)
	if dls := e.tap.deadLetters(s.device); len(dls) > 0 {
		problems = append(problems, fmt.Sprintf("valid reading dead-lettered: %s: %s", dls[0].Reason, dls[0].Error))
	}
	e.fence(t)
	preds := e.tap.predictions(s.device)
	if len(preds) == 0 {
		delta := e.snap(t).sub(before)
		problems = append(problems, fmt.Sprintf("%d readings accepted and no prediction; "+
			"edgepm_inference_readings_dropped_total{reason=\"out_of_order\"} rose by %v", s.n,
			delta.get("edgepm_inference_readings_dropped_total", `reason="out_of_order"`)))
	}
	problems = append(problems, badPredictions(preds)...)
	if err := e.healthy(); err != nil {
		problems = append(problems, fmt.Sprintf("edgepm unhealthy after scoring the device: %v", err))
	}
	return problems
}

func badPredictions(preds []faultPred) (problems []string) {
	for _, p := range preds {
		if p.err != nil || math.IsNaN(p.Score) || math.IsInf(p.Score, 0) || p.Score < 0 || p.Score > 1 {
			problems = append(problems, fmt.Sprintf("bad prediction (%v): %s", p.err, p.raw))
		}
	}
	return problems
}

func checkPredictions(t *testing.T, preds []faultPred) {
	t.Helper()
	if len(preds) == 0 {
		t.Error("no prediction")
	}
	for _, p := range badPredictions(preds) {
		t.Error(p)
	}
}

// checkInvalidCounts compares the increase of edgepm_ingest_invalid_total
// per reason with want.
func (e *faultEnv) checkInvalidCounts(t *testing.T, before faultMetrics, want map[string]float64) {
	t.Helper()
	reasons := []string{ingest.ReasonMalformed, ingest.ReasonWrongType, ingest.ReasonNonFinite, ingest.ReasonMissing,
		ingest.ReasonTooLarge, ingest.ReasonOutOfRange, ingest.ReasonClockSkew, ingest.ReasonBadTimestamp,
		ingest.ReasonUnknownDevice, ingest.ReasonBadTopic}
	delta := e.settled(t).sub(before)
	for _, r := range reasons {
		if got := delta.get("edgepm_ingest_invalid_total", `reason="`+r+`"`); got != want[r] {
			t.Errorf("edgepm_ingest_invalid_total{reason=%q} rose by %v, want %v", r, got, want[r])
		}
	}
}

func lastLine(log, substr string) string {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], substr) {
			return lines[i]
		}
	}
	return ""
}

// testDuplicateFault: the same payload twice (sim.FaultStream). Both copies
// arrive (at-least-once), identifiable by device_seq; nothing is lost.
func testDuplicateFault(t *testing.T, e *faultEnv, kind sim.FaultKind) {
	before := e.settled(t)
	dev := "f-" + kind.String()
	rs := faultReadings(t, dev, faultStreamLen)
	e.publish(t, faultTopic(dev), sim.FaultStream(kind, rs))
	e.waitAllSeqs(t, dev, len(rs))
	if !waitUntil(10*time.Second, func() bool { return e.tap.seqs(dev)[1] >= 2 }) {
		t.Fatalf("seq 1 arrived %d times, want 2 (sent twice)", e.tap.seqs(dev)[1])
	}
	copies := e.tap.readingsOf(dev, 1)
	if copies[0].TS != copies[1].TS || fmt.Sprint(copies[0].Values) != fmt.Sprint(copies[1].Values) {
		t.Errorf("the copies of seq 1 differ: %+v vs %+v", copies[0], copies[1])
	}
	for seq, n := range e.tap.seqs(dev) {
		if seq != 1 && n != 1 {
			t.Errorf("seq %d arrived %d times, want once", seq, n)
		}
	}
	if d := e.settled(t).sub(before).get("edgepm_ingest_readings_total"); d != float64(len(rs)+1) {
		t.Errorf("edgepm_ingest_readings_total rose by %v, want %d (the duplicate is a reading too)", d, len(rs)+1)
	}
	e.fence(t)
	checkPredictions(t, e.tap.predictions(dev))
	// The copy is scored too: inference saw every message and dropped none
	// (features.Window accepts equal timestamps), so it counts twice in
	// the window's statistics. Kafka consumers de-duplicate by device_seq.
	delta := e.settled(t).sub(before)
	if d := delta.get("edgepm_inference_readings_dropped_total"); d != 0 {
		t.Errorf("inference dropped %v readings of the device with a duplicate", d)
	}
	t.Logf("duplicate: %d records in edgepm.readings for %d readings (seq 1 twice, same ts and values); "+
		"%v readings windowed by inference: the copy is not de-duplicated before scoring",
		len(rs)+1, len(rs), delta.get("edgepm_inference_readings_total")-30) // 30: the fence
}

// testOutOfOrderFault: a reading sent after the device's next one
// (sim.FaultStream swaps them), within the skew limit. Both are stored in
// arrival order with their device timestamps; inference drops the late one
// (documented in inference/features/doc.go, counted) and keeps scoring.
func testOutOfOrderFault(t *testing.T, e *faultEnv, kind sim.FaultKind) {
	before := e.settled(t)
	dev := "f-" + kind.String()
	rs := faultReadings(t, dev, faultStreamLen)
	payloads := append(encodeAll(rs[:20]), sim.FaultStream(kind, rs[20:])...) // seq 22 before seq 21
	e.publish(t, faultTopic(dev), payloads)
	e.waitAllSeqs(t, dev, len(rs))
	order := e.tap.arrival(dev)
	if i21, i22 := slices.Index(order, 21), slices.Index(order, 22); i22 > i21 {
		t.Errorf("edgepm.readings order %v: seq 22 was sent before 21", order[18:24])
	}
	late := e.tap.readingsOf(dev, 21)[0]
	if want := rs[20].Time.UnixMilli(); late.TS != want {
		t.Errorf("late reading ts %d, want the device's %d", late.TS, want)
	}
	e.fence(t)
	delta := e.settled(t).sub(before)
	if d := delta.get("edgepm_inference_readings_dropped_total", `reason="out_of_order"`); d != 1 {
		t.Errorf("edgepm_inference_readings_dropped_total{reason=out_of_order} rose by %v, want 1", d)
	}
	checkPredictions(t, e.tap.predictions(dev))
}

// faultStuckAfter is validation.stuck_after in the fault tests' edgepm.
const faultStuckAfter = 20

// testStuckFault: vibration_rms frozen for the whole stream. The readings
// are valid data: stored and scored, not dead-lettered; with
// validation.stuck_after set, edgepm reports the sensor stuck once (a
// sensor.stuck event in Kafka, the edgepm_sensors_stuck gauge, the
// device's status) after stuck_after equal readings.
func testStuckFault(t *testing.T, e *faultEnv, kind sim.FaultKind) {
	dev := "f-" + kind.String()
	rs := faultReadings(t, dev, faultStreamLen)
	e.publish(t, faultTopic(dev), sim.FaultStream(kind, rs))
	e.waitAllSeqs(t, dev, len(rs))
	for seq := 1; seq <= len(rs); seq++ {
		if got, want := e.tap.readingsOf(dev, uint64(seq))[0].Values[sim.SensorVibrationRMS], rs[0].Values[sim.SensorVibrationRMS]; got != want {
			t.Fatalf("seq %d vibration_rms %v, want the stuck %v", seq, got, want)
		}
	}
	if dls := e.tap.deadLetters(dev); len(dls) > 0 {
		t.Errorf("stuck readings dead-lettered: %s", dls[0].Reason)
	}
	e.fence(t)
	preds := e.tap.predictions(dev)
	checkPredictions(t, preds)
	e.tap.waitFor(t, 10*time.Second, "a sensor.stuck event", func() bool { return len(e.tap.eventsOf(dev, "sensor.stuck")) > 0 })
	evs := e.tap.eventsOf(dev, "sensor.stuck")
	var stuck []wire.Event
	for _, ev := range evs {
		if ev.Detail["sensor"] == sim.SensorVibrationRMS {
			stuck = append(stuck, ev)
		}
	}
	if len(stuck) != 1 || stuck[0].Detail["readings"] != float64(faultStuckAfter) ||
		stuck[0].Detail["value"] != rs[0].Values[sim.SensorVibrationRMS] {
		t.Fatalf("sensor.stuck events for %s: %+v, want one for %s after %d readings", dev, evs, sim.SensorVibrationRMS, faultStuckAfter)
	}
	if got := metricValue(e.p, "edgepm_sensors_stuck"); got < 1 {
		t.Errorf("edgepm_sensors_stuck = %v", got)
	}
	st, err := e.p.status()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range st.Devices {
		found = found || d.Device == dev && slices.Contains(d.Stuck, sim.SensorVibrationRMS)
	}
	if !found {
		t.Errorf("/api/status does not show %s's %s as stuck", dev, sim.SensorVibrationRMS)
	}
	t.Logf("stuck: %d readings accepted, %d predictions, sensor.stuck after %d readings", len(rs), len(preds), faultStuckAfter)
}

// testDisconnectFault: the publisher's disconnect storms (sim.MQTTSink.Storm,
// sim.DefaultStormCycles cycles, twice) between QoS 1 publishes. edgepm
// stays connected and ready throughout, and every reading the broker
// acknowledged arrives.
func testDisconnectFault(t *testing.T, e *faultEnv, kind sim.FaultKind) {
	dev := "f-" + kind.String()
	const perPhase = 100
	rs := faultReadings(t, dev, 3*perPhase)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sink, err := sim.NewMQTTSink(ctx, sim.MQTTConfig{Broker: e.url, ClientID: "faults-storm", QoS: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	watch := e.watchHealth()
	for phase := range 3 {
		for _, r := range rs[phase*perPhase : (phase+1)*perPhase] {
			e.sent++
			if err := sink.Send(ctx, faultTopic(dev), sim.EncodePayload(r)); err != nil {
				t.Fatalf("send seq %d: %v", r.Seq, err)
			}
		}
		waitCompleted(t, sink, int64((phase+1)*perPhase))
		if phase < 2 {
			if err := sink.Storm(ctx, sim.DefaultStormCycles); err != nil {
				t.Fatalf("storm: %v", err)
			}
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := sink.Errors(); n > 0 {
		t.Fatalf("%d publishes failed: %v", n, err)
	}
	e.waitAllSeqs(t, dev, len(rs))
	if problems := watch(); len(problems) > 0 {
		t.Errorf("edgepm not healthy during the storms: %v", problems)
	}
}

// testBurstFault: the simulator's Publisher with the Injector's burst fault
// sends 5,000 QoS 1 messages at full speed from 10 machines although its
// rate is 20/s. edgepm absorbs them within its unacked bound (ingest
// backpressure) and all arrive.
func testBurstFault(t *testing.T, e *faultEnv, kind sim.FaultKind) {
	const machines, count = 10, 5000
	before := e.settled(t)
	plant, err := sim.NewPlant(sim.Config{Seed: 7, Machines: machines,
		Start: time.Now().Add(-count / machines * time.Second).Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	inj, err := sim.NewInjector(sim.FaultConfig{Rates: map[sim.FaultKind]float64{kind: 1}, BurstSize: count})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sink, err := sim.NewMQTTSink(ctx, sim.MQTTConfig{Broker: e.url, ClientID: "faults-burst", QoS: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sim.NewPublisher(&sim.PlantSource{Plant: plant, Interval: time.Second}, sink, sim.PublisherConfig{
		TopicTemplate: "plant/{site}/{line}/burst-{device}/telemetry", Rate: 20, Count: count, Faults: inj}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.sent += count
	maxUnacked := e.watchGauge("edgepm_ingest_unacked_messages")
	start := time.Now()
	if err := pub.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if n, err := sink.Errors(); n > 0 || sink.Completed() != count {
		t.Fatalf("%d of %d publishes completed, %d failed: %v", sink.Completed(), count, n, err)
	}
	var devs []string
	for _, d := range plant.Devices() {
		devs = append(devs, "burst-"+d)
	}
	for _, d := range devs {
		e.waitAllSeqs(t, d, count/machines)
	}
	peak := maxUnacked()
	delta := e.settled(t).sub(before)
	if got := delta.get("edgepm_ingest_readings_total"); got != count {
		t.Errorf("edgepm_ingest_readings_total rose by %v, want %d", got, count)
	}
	if peak > 2000 {
		t.Errorf("edgepm_ingest_unacked_messages peaked at %v, above mqtt.max_unacked (2000)", peak)
	}
	t.Logf("burst: %d messages published in %s (%.0f/s, rate limit 20/s ignored), all in Kafka; peak unacked %v; injected %v",
		count, took.Round(time.Millisecond), count/took.Seconds(), peak, inj.Counts())
}

// faultEnv is one edgepm with its own Mosquitto; the Kafka side (kfake and
// the tap) is shared.
type faultEnv struct {
	p      *proc
	url    string
	seeds  []string
	pub    mqtt.Client
	tap    *faultTap
	fences int
	sent   float64 // MQTT messages published to this edgepm
}

func startFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	kafka := testenv.StartKafka(t)
	return startFaultEdgepm(t, kafka.Seeds(), nil)
}

// dedicated starts another Mosquitto and edgepm on the same Kafka side, for
// cases that spoil the edgepm they run against. It lives until the end of t.
func (e *faultEnv) dedicated(t *testing.T) *faultEnv {
	return startFaultEdgepm(t, e.seeds, e.tap)
}

func startFaultEdgepm(t *testing.T, seeds []string, tap *faultTap) *faultEnv {
	t.Helper()
	broker := testenv.StartMosquitto(t)
	cfgPath, httpAddr := writeConfig(t, t.TempDir(), broker.URL(), seeds, "validation: {stuck_after: "+strconv.Itoa(faultStuckAfter)+"}\n")
	e := &faultEnv{p: startProc(t, cfgPath, httpAddr), url: broker.URL(), seeds: seeds, tap: tap}
	if !waitUntil(30*time.Second, func() bool { return e.healthy() == nil }) {
		t.Fatalf("edgepm not ready: %v; log:\n%s", e.healthy(), e.p.logs())
	}
	e.pub = pahoClient(t, broker.URL(), "faults-pub")
	if e.tap == nil {
		e.tap = startFaultTap(t, seeds)
	}
	return e
}

// healthy reports an error unless /readyz is 200 and MQTT is connected.
func (e *faultEnv) healthy() error {
	cl := &http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + e.p.http + "/readyz")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz %d: %s", resp.StatusCode, body)
	}
	st, err := e.p.status()
	if err != nil {
		return fmt.Errorf("GET /api/status: %w", err)
	}
	if !st.MQTT.Connected {
		return errors.New("/api/status: mqtt not connected")
	}
	return nil
}

// watchHealth samples healthy every 20ms until the returned func is called,
// which returns the problems seen.
func (e *faultEnv) watchHealth() func() []string {
	var mu sync.Mutex
	var problems []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if err := e.healthy(); err != nil {
				mu.Lock()
				problems = append(problems, err.Error())
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() []string {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return problems
	}
}

// watchGauge samples a gauge every 10ms until the returned func is called,
// which returns the largest value seen.
func (e *faultEnv) watchGauge(name string) func() float64 {
	var peak float64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if m, err := e.scrape(); err == nil {
				peak = max(peak, m.get(name))
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() float64 {
		close(stop)
		<-done
		return peak
	}
}

// publish sends payloads in order at QoS 1 and waits for the broker's acks.
func (e *faultEnv) publish(t *testing.T, topic string, payloads [][]byte) {
	t.Helper()
	e.sent += float64(len(payloads))
	toks := make([]mqtt.Token, len(payloads))
	for i, p := range payloads {
		toks[i] = e.pub.Publish(topic, 1, false, p)
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d to %s: %v", i, topic, tok.Error())
		}
	}
}

// fence publishes a fresh device's window-sized stream and waits for its
// prediction. Ingest, inference and the predictions stream are in order, so
// afterwards every prediction of readings published before is in the tap.
func (e *faultEnv) fence(t *testing.T) {
	t.Helper()
	e.fences++
	dev := fmt.Sprintf("fence-%d", e.fences)
	e.publish(t, faultTopic(dev), encodeAll(faultReadings(t, dev, 30)))
	e.tap.waitFor(t, 20*time.Second, "prediction of "+dev, func() bool { return len(e.tap.predictions(dev)) > 0 })
}

func (e *faultEnv) waitAllSeqs(t *testing.T, dev string, n int) {
	t.Helper()
	e.tap.waitFor(t, 30*time.Second, fmt.Sprintf("seqs 1..%d of %s in edgepm.readings", n, dev), func() bool {
		seqs := e.tap.seqs(dev)
		for i := 1; i <= n; i++ {
			if seqs[uint64(i)] == 0 {
				return false
			}
		}
		return true
	})
}

func waitCompleted(t *testing.T, s *sim.MQTTSink, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.Completed() < n {
		if errs, err := s.Errors(); errs > 0 || time.Now().After(deadline) {
			t.Fatalf("%d of %d publishes acknowledged; %d failed: %v", s.Completed(), n, errs, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func faultTopic(dev string) string { return "plant/faults/l1/" + dev + "/telemetry" }

// faultReadings returns n readings of a simulated pump (sim.Plant), one per
// second, the last one now, renamed to dev.
func faultReadings(t *testing.T, dev string, n int) []sim.Reading {
	t.Helper()
	start := time.Now().Add(-time.Duration(n) * time.Second).Truncate(time.Millisecond)
	p, err := sim.NewPlant(sim.Config{Seed: 7, Machines: 1, Classes: []string{sim.ClassPump}, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	rs := make([]sim.Reading, n)
	for i := range rs {
		rs[i] = p.Step(time.Second)[0]
		rs[i].Device = dev
	}
	return rs
}

func encodeAll(rs []sim.Reading) [][]byte {
	out := make([][]byte, len(rs))
	for i, r := range rs {
		out[i] = sim.EncodePayload(r)
	}
	return out
}

// faultMetrics is a /metrics scrape: series ("name{labels}") -> value.
type faultMetrics map[string]float64

func (e *faultEnv) scrape() (faultMetrics, error) {
	cl := &http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + e.p.http + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	m := faultMetrics{}
	for _, l := range strings.Split(string(b), "\n") {
		i := strings.LastIndexByte(l, ' ')
		if l == "" || l[0] == '#' || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			m[l[:i]] = v
		}
	}
	return m, nil
}

// settled waits until edgepm has taken every message published to it and
// committed each as a reading or a dead letter (every message here holds
// one reading), and returns that scrape: counters compared across a
// subtest must not include the tail of the previous one.
func (e *faultEnv) settled(t *testing.T) faultMetrics {
	t.Helper()
	var m faultMetrics
	ok := waitUntil(20*time.Second, func() bool {
		var err error
		m, err = e.scrape()
		return err == nil && m.get("edgepm_ingest_messages_total") == e.sent &&
			m.get("edgepm_ingest_readings_total")+m.get("edgepm_ingest_invalid_total") == e.sent
	})
	if !ok {
		t.Fatalf("edgepm did not settle: %v messages published, /metrics: messages %v, readings %v, invalid %v",
			e.sent, m.get("edgepm_ingest_messages_total"), m.get("edgepm_ingest_readings_total"),
			m.get("edgepm_ingest_invalid_total"))
	}
	return m
}

func (e *faultEnv) snap(t *testing.T) faultMetrics {
	t.Helper()
	m, err := e.scrape()
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	return m
}

// get sums the series of name whose labels contain every one of labels.
func (m faultMetrics) get(name string, labels ...string) float64 {
	var sum float64
	for k, v := range m {
		series, lbl, _ := strings.Cut(k, "{")
		if series != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(lbl, l)
		}
		if ok {
			sum += v
		}
	}
	return sum
}

// sub returns m - before, series by series.
func (m faultMetrics) sub(before faultMetrics) faultMetrics {
	out := faultMetrics{}
	for k, v := range m {
		out[k] = v - before[k]
	}
	return out
}

// faultTap consumes edgepm.readings, edgepm.deadletter,
// edgepm.predictions and edgepm.events from the start for the whole test
// and indexes the records by device (the key; an event's detail.device).
type faultTap struct {
	mu     sync.Mutex
	reads  map[string][]faultReading
	dead   map[string][]faultDead
	preds  map[string][]faultPred
	events map[string][]wire.Event
}

type faultReading struct {
	Device    string             `json:"device"`
	DeviceSeq uint64             `json:"device_seq"`
	TS        int64              `json:"ts"`
	Values    map[string]float64 `json:"values"`
}

type faultDead struct {
	Topic        string `json:"topic"`
	Device       string `json:"device"`
	Reason       string `json:"reason"`
	Error        string `json:"error"`
	Payload      []byte `json:"payload"`
	PayloadBytes int    `json:"payload_bytes"`
	Truncated    bool   `json:"truncated"`
}

type faultPred struct {
	Device    string  `json:"device"`
	Score     float64 `json:"score"`
	WindowEnd int64   `json:"window_end"`
	raw       []byte
	err       error
}

func startFaultTap(t *testing.T, seeds []string) *faultTap {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumeTopics("edgepm.readings", "edgepm.deadletter", "edgepm.predictions", "edgepm.events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.FetchMaxPartitionBytes(8<<20),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tap := &faultTap{reads: map[string][]faultReading{}, dead: map[string][]faultDead{}, preds: map[string][]faultPred{},
		events: map[string][]wire.Event{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(tap.add)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	return tap
}

func (tap *faultTap) add(r *kgo.Record) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	key := string(r.Key)
	switch r.Topic {
	case "edgepm.readings":
		var v faultReading
		if json.Unmarshal(r.Value, &v) == nil {
			tap.reads[key] = append(tap.reads[key], v)
		}
	case "edgepm.deadletter":
		var v faultDead
		if json.Unmarshal(r.Value, &v) == nil {
			tap.dead[key] = append(tap.dead[key], v)
		}
	case "edgepm.predictions":
		v := faultPred{raw: r.Value}
		v.err = json.Unmarshal(r.Value, &v)
		if v.err == nil && v.Device != key {
			v.err = fmt.Errorf("value has device %q, key %q", v.Device, key)
		}
		tap.preds[key] = append(tap.preds[key], v)
	case "edgepm.events":
		var ev wire.Event
		if json.Unmarshal(r.Value, &ev) == nil {
			dev, _ := ev.Detail["device"].(string)
			tap.events[dev] = append(tap.events[dev], ev)
		}
	}
}

// eventsOf returns dev's events of type typ.
func (tap *faultTap) eventsOf(dev, typ string) []wire.Event {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	var out []wire.Event
	for _, ev := range tap.events[dev] {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// seqs counts the records of dev in edgepm.readings by device_seq.
func (tap *faultTap) seqs(dev string) map[uint64]int {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	out := map[uint64]int{}
	for _, r := range tap.reads[dev] {
		out[r.DeviceSeq]++
	}
	return out
}

// arrival returns dev's device_seqs in edgepm.readings order.
func (tap *faultTap) arrival(dev string) []uint64 {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	out := make([]uint64, 0, len(tap.reads[dev]))
	for _, r := range tap.reads[dev] {
		out = append(out, r.DeviceSeq)
	}
	return out
}

// readingsOf returns the records of dev with device_seq seq (at least one:
// callers wait for it first).
func (tap *faultTap) readingsOf(dev string, seq uint64) []faultReading {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	var out []faultReading
	for _, r := range tap.reads[dev] {
		if r.DeviceSeq == seq {
			out = append(out, r)
		}
	}
	return out
}

func (tap *faultTap) deadLetters(dev string) []faultDead {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return slices.Clone(tap.dead[dev])
}

func (tap *faultTap) predictions(dev string) []faultPred {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return slices.Clone(tap.preds[dev])
}

// waitFor polls cond until it holds or d passes (then it fails the test).
func (tap *faultTap) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitUntil(d, cond) {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// waitUntil polls cond until it holds (true) or d passes (false).
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
