package bridge

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// createTopics creates topics (1 partition) on the cluster at seeds.
func createTestTopics(t *testing.T, seeds []string, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := contextTimeout(10 * time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, topics...)
	if err != nil {
		t.Fatalf("create topics %v: %v", topics, err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			t.Fatalf("create topic %s: %v", r.Topic, r.Err)
		}
	}
}

func streamStatus(p *Producer, name string) StreamStatus {
	for _, s := range p.Status().Streams {
		if s.Stream == name {
			return s
		}
	}
	return StreamStatus{}
}

// The predictions topic does not exist (kafka.create_topics false) while
// readings flow: readings keep being delivered, all of them, for longer
// than link.offline_after, and the link stays online; the failing stream
// shows its topic in Status and its conditions; creating the topic drains
// every held prediction.
func TestMissingTopicDoesNotStopOtherStreams(t *testing.T) {
	srv := testenv.StartKafka(t)
	createTestTopics(t, srv.Seeds(), "edgepm.readings", "edgepm.events", "edgepm.alerts", "edgepm.deadletter")
	q := newTestQueue(t)
	cfg := testConfig(srv.Seeds())
	cfg.CreateTopics = false
	cfg.MaxInFlight, cfg.ReadBatch = 400, 100 // fewer slots than predictions waiting
	const preds = 1000
	predBase := lastSeq(q, buffer.StreamPredictions)
	appendReadings(t, q, buffer.StreamPredictions, 5, preds, map[string]int{})

	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)
	readBase := lastSeq(q, buffer.StreamReadings)
	w := startWriter(t, q)

	// Failing with Kafka's error: from the check at start, or from the
	// produce requests. (Whether kgo fails the in-flight records within the
	// wait, counting Errors, varies: in about one run in twenty it kept
	// retrying them past 20 s.)
	waitFor(t, 20*time.Second, "predictions failing with kafka's error", func() bool {
		ps := streamStatus(p, buffer.StreamPredictions)
		return ps.Failing && strings.Contains(ps.LastError, "UNKNOWN_TOPIC_OR_PARTITION")
	})
	failedAt := time.Now()
	ps := streamStatus(p, buffer.StreamPredictions)
	if ps.Topic != "edgepm.predictions" || !strings.Contains(ps.FailingError, "edgepm.predictions") ||
		!strings.Contains(ps.LastError, "edgepm.predictions") {
		t.Fatalf("predictions status %+v", ps)
	}
	conds := p.Status().Conditions()
	if len(conds) != 1 || !strings.Contains(conds[0], "edgepm.predictions") {
		t.Fatalf("conditions %q, want one naming edgepm.predictions", conds)
	}
	readingsAcked := func() uint64 { return streamStatus(p, buffer.StreamReadings).Acked }
	ackedThen := readingsAcked()
	waitFor(t, 30*time.Second, "readings acknowledged past link.offline_after while predictions fail", func() bool {
		return time.Since(failedAt) > 2*cfg.Link.OfflineAfter && readingsAcked() > ackedThen+500
	})
	if st := p.Status(); !st.Online || st.State != StateOnline {
		t.Fatalf("link %s (%s) while readings are acknowledged", st.State, st.LastError)
	}
	total := w.halt()
	waitFor(t, 30*time.Second, "every reading delivered", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })
	if n := bufferRecords(q, buffer.StreamPredictions); n != preds || !streamStatus(p, buffer.StreamPredictions).Failing {
		t.Fatalf("predictions: %d in the buffer, status %+v", n, streamStatus(p, buffer.StreamPredictions))
	}
	reads := consume(t, srv.Seeds(), total, 30*time.Second, "edgepm.readings")
	checkDelivery(t, reads, readBase, total, cfg.MaxInFlight)

	createTestTopics(t, srv.Seeds(), "edgepm.predictions")
	waitFor(t, 30*time.Second, "held predictions delivered", func() bool {
		return bufferRecords(q, buffer.StreamPredictions) == 0 && !streamStatus(p, buffer.StreamPredictions).Failing
	})
	if conds := p.Status().Conditions(); len(conds) != 0 {
		t.Fatalf("conditions after the topic was created: %q", conds)
	}
	pr := consume(t, srv.Seeds(), preds, 30*time.Second, "edgepm.predictions")
	seen := map[uint64]bool{}
	for _, r := range pr {
		seen[r.seq] = true
	}
	for s := predBase + 1; s <= predBase+preds; s++ {
		if !seen[s] {
			t.Fatalf("prediction seq %d missing", s)
		}
	}
	waitFor(t, 10*time.Second, "events delivered", func() bool { return bufferRecords(q, buffer.StreamEvents) == 0 })
	stop()
	types := uplinkEventTypes(t, srv.Seeds(), 3)
	if !types[wire.EventStreamFailing] || !types[wire.EventStreamRecovered] || types[wire.EventUplinkOffline] {
		t.Fatalf("events %v: want %s and %s, no %s", types, wire.EventStreamFailing, wire.EventStreamRecovered, wire.EventUplinkOffline)
	}
}

// uplinkEventTypes consumes at least want events and returns their types, each
// checked against the event schemas' envelope fields.
func uplinkEventTypes(t *testing.T, seeds []string, want int) map[string]bool {
	t.Helper()
	types := map[string]bool{}
	for _, e := range consume(t, seeds, want, 10*time.Second, "edgepm.events") {
		var ev wire.Event
		if err := json.Unmarshal([]byte(e.value), &ev); err != nil {
			t.Fatalf("event %q: %v", e.value, err)
		}
		if ev.Type == wire.EventStreamFailing && (ev.Detail["topic"] != "edgepm.predictions" || ev.Detail["error"] == "") {
			t.Fatalf("failing event %s", e.value)
		}
		types[ev.Type] = true
	}
	return types
}

// The gateway may not write the predictions topic (a deny ACL): readings
// are delivered while predictions fail with TOPIC_AUTHORIZATION_FAILED,
// named in Status; removing the ACL drains every held prediction.
func TestDeniedTopicDoesNotStopOtherStreams(t *testing.T) {
	topicACL := func(name string, op kmsg.ACLOperation, allow bool) kfake.ACL {
		return kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral,
			Operation: op, Allow: allow}
	}
	acls := []kfake.ACL{
		{Resource: kmsg.ACLResourceTypeCluster, Name: "kafka-cluster", Pattern: kmsg.ACLResourcePatternTypeLiteral,
			Operation: kmsg.ACLOperationIdempotentWrite, Allow: true},
		topicACL("edgepm.predictions", kmsg.ACLOperationWrite, false),
	}
	for _, s := range []string{"readings", "events", "alerts", "deadletter", "predictions"} {
		acls = append(acls, topicACL("edgepm."+s, kmsg.ACLOperationWrite, true), topicACL("edgepm."+s, kmsg.ACLOperationDescribe, true))
	}
	srv := testenv.StartKafka(t, kfake.EnableSASL(), kfake.EnableACLs(), kfake.Superuser("PLAIN", "admin", "admin"),
		kfake.User("PLAIN", "gw", "gw-pw", acls...))
	asAdmin := []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: "admin"}.AsMechanism())}
	admin, err := kgo.NewClient(append(asAdmin, kgo.SeedBrokers(srv.Seeds()...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	ctx, cancel := contextTimeout(20 * time.Second)
	defer cancel()
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "edgepm.readings", "edgepm.events", "edgepm.alerts",
		"edgepm.deadletter", "edgepm.predictions"); err != nil {
		t.Fatal(err)
	}

	q := newTestQueue(t)
	cfg := testConfig(srv.Seeds())
	cfg.CreateTopics = false
	cfg.MaxInFlight, cfg.ReadBatch = 400, 100
	cfg.SASL = SASLConfig{Mechanism: "PLAIN", Username: "gw", Password: "gw-pw"}
	const preds = 500
	predBase := lastSeq(q, buffer.StreamPredictions)
	appendReadings(t, q, buffer.StreamPredictions, 5, preds, map[string]int{})
	readBase := lastSeq(q, buffer.StreamReadings)
	const reads = 3000
	appendReadings(t, q, buffer.StreamReadings, 20, reads, map[string]int{})
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)

	waitFor(t, 20*time.Second, "readings delivered while predictions are denied", func() bool {
		ps := streamStatus(p, buffer.StreamPredictions)
		return bufferRecords(q, buffer.StreamReadings) == 0 && ps.Failing &&
			strings.Contains(ps.FailingError, "TOPIC_AUTHORIZATION_FAILED") && strings.Contains(ps.FailingError, "edgepm.predictions")
	})
	if conds := p.Status().Conditions(); len(conds) != 1 || !strings.Contains(conds[0], "edgepm.predictions") {
		t.Fatalf("conditions %q", conds)
	}
	checkDelivery(t, consumeWith(t, asAdmin, srv.Seeds(), reads, 20*time.Second, "edgepm.readings"), readBase, reads, cfg.MaxInFlight)

	dr, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("edgepm.predictions").Deny("User:gw").DenyHosts("*").Operations(kadm.OpWrite).
		ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || len(dr) == 0 || dr[0].Err != nil {
		t.Fatalf("delete the deny ACL: %v %+v", err, dr)
	}
	waitFor(t, 30*time.Second, "held predictions delivered", func() bool {
		return bufferRecords(q, buffer.StreamPredictions) == 0 && !streamStatus(p, buffer.StreamPredictions).Failing
	})
	stop()
	seen := map[uint64]bool{}
	for _, r := range consumeWith(t, asAdmin, srv.Seeds(), preds, 20*time.Second, "edgepm.predictions") {
		seen[r.seq] = true
	}
	for s := predBase + 1; s <= predBase+preds; s++ {
		if !seen[s] {
			t.Fatalf("prediction seq %d missing", s)
		}
	}
}

// A failing stream is logged and reported once when it starts failing, then
// logged again at most every healthLogEvery, and reported once when it
// recovers; its in-flight bound drops to failingInFlight meanwhile.
func TestFailingStreamReportsRateLimited(t *testing.T) {
	q := newTestQueue(t)
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := testConfig([]string{"127.0.0.1:1"})
	cfg.MaxInFlight, cfg.ReadBatch = 10000, 1000
	p, err := NewProducer(q, cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := p.byName[buffer.StreamPredictions]
	healthy := 10000 - (len(p.streams)-1)*1000
	if c := p.streamCapLocked(s); c != healthy {
		t.Fatalf("healthy cap %d, want %d", c, healthy)
	}
	t0 := time.Unix(1_800_000_000, 0)
	p.mu.Lock()
	s.health.fail(t0, "topic edgepm.predictions: UNKNOWN_TOPIC_OR_PARTITION", false)
	p.mu.Unlock()
	if c := p.streamCapLocked(s); c != failingInFlight {
		t.Fatalf("failing cap %d, want %d", c, failingInFlight)
	}
	lines := func() int { return strings.Count(logs.String(), "stream=predictions") }
	for i, at := range []time.Duration{0, time.Second, 30 * time.Second, healthLogEvery - time.Second} {
		p.flushHealth(t0.Add(at))
		if lines() != 1 {
			t.Fatalf("after flush %d (+%s): %d log lines, want 1:\n%s", i, at, lines(), logs.String())
		}
	}
	p.flushHealth(t0.Add(healthLogEvery))
	if lines() != 2 || !strings.Contains(logs.String(), "still failing") {
		t.Fatalf("no reminder after %s:\n%s", healthLogEvery, logs.String())
	}
	st := p.Status()
	if c := st.Conditions(); len(c) != 1 || !strings.Contains(c[0], "edgepm.predictions") {
		t.Fatalf("conditions %q", c)
	}
	p.mu.Lock()
	s.health.ok(t0.Add(2 * healthLogEvery))
	p.mu.Unlock()
	p.flushHealth(t0.Add(2 * healthLogEvery))
	p.flushHealth(t0.Add(3 * healthLogEvery))
	if lines() != 3 || !strings.Contains(logs.String(), "takes the stream's topic again") || len(p.Status().Conditions()) != 0 {
		t.Fatalf("recovery not reported once:\n%s", logs.String())
	}
	recs, err := q.Read(buffer.StreamEvents, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range recs {
		var ev wire.Event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
	}
	if strings.Join(types, ",") != wire.EventStreamFailing+","+wire.EventStreamRecovered {
		t.Fatalf("events %v", types)
	}
}
