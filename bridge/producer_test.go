package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

func TestProducerDeliversKeysHeadersValues(t *testing.T) {
	srv := testenv.StartKafka(t)
	q := newTestQueue(t)
	counter := map[string]int{}
	base := lastSeq(q, buffer.StreamReadings)
	appendReadings(t, q, buffer.StreamReadings, 10, 500, counter)
	appendReadings(t, q, buffer.StreamAlerts, 3, 20, map[string]int{})

	p, err := NewProducer(q, testConfig(srv.Seeds()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)
	recs := consume(t, srv.Seeds(), 520, 20*time.Second, "edgepm.readings", "edgepm.alerts")
	waitFor(t, 5*time.Second, "buffer emptied", func() bool {
		return bufferRecords(q, buffer.StreamReadings) == 0 && bufferRecords(q, buffer.StreamAlerts) == 0
	})
	stop()

	seen := map[string]bool{}
	for _, r := range recs {
		stream := strings.TrimPrefix(r.topic, "edgepm.")
		if r.headers[wire.HeaderGateway] != "gw-test" || r.headers[wire.HeaderStream] != stream || r.headers["edgepm-schema"] != "1" {
			t.Fatalf("headers %v on %s", r.headers, r.topic)
		}
		if _, ok := r.headers[wire.HeaderBacklog]; ok {
			t.Fatalf("small backlog marked as backlog: %v", r.headers)
		}
		var v struct {
			Device string `json:"device"`
		}
		if err := json.Unmarshal([]byte(r.value), &v); err != nil || v.Device != r.key {
			t.Fatalf("value %q key %q", r.value, r.key)
		}
		seen[fmt.Sprintf("%s/%d", stream, r.seq)] = true
	}
	for s := base + 1; s <= base+500; s++ {
		if !seen[fmt.Sprintf("readings/%d", s)] {
			t.Fatalf("readings seq %d missing", s)
		}
	}
	st := p.Status()
	if st.Streams[0].Stream != buffer.StreamAlerts {
		t.Fatalf("drain order %v", st.Streams)
	}
}

// A cluster that is not there at start-up blocks nothing; nothing leaves the
// buffer until the cluster appears and acknowledges. A cluster that answers
// but refuses (topic authorization, an operator fixes the ACL) is retried,
// never a reason to drop or delete: every record is sent and refused
// several times and stays buffered, then arrives once the refusal ends.
func TestProducerUnreachableAtStartup(t *testing.T) {
	port := testenv.FreePort(t)
	seeds := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	q := newTestQueue(t)
	base := lastSeq(q, buffer.StreamReadings)
	appendReadings(t, q, buffer.StreamReadings, 5, 200, map[string]int{})

	// NewProducer must not wait for the cluster: only a hang fails this.
	made := make(chan *Producer, 1)
	go func() {
		p, err := NewProducer(q, testConfig(seeds), nil, nil)
		if err != nil {
			t.Error(err)
		}
		made <- p
	}()
	var p *Producer
	select {
	case p = <-made:
	case <-time.After(30 * time.Second):
		t.Fatal("NewProducer blocked on an unreachable cluster")
	}
	if p == nil {
		t.FailNow()
	}
	runProducer(t, p)
	waitFor(t, 10*time.Second, "offline", func() bool { return p.Status().State == StateOffline })
	if st := readingsStatus(p); st.Sent != 0 || st.Records != 200 || p.Status().LastError == "" {
		t.Fatalf("offline status %+v, last error %q", st, p.Status().LastError)
	}

	srv := startKafkaOn(t, port)
	deny := srv.c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "edgepm.readings",
		Err: kerr.TopicAuthorizationFailed, Count: -1})
	waitFor(t, 20*time.Second, "refused sends", func() bool { return readingsStatus(p).Errors >= 3*200 })
	st := readingsStatus(p)
	if n := bufferRecords(q, buffer.StreamReadings); n != 200 || st.AckedSeq != base || len(st.Dropped) != 0 || st.Acked != 0 {
		t.Fatalf("after refused sends: %d buffered, status %+v", n, st)
	}
	deny.Remove()
	recs := consume(t, srv.Seeds(), 200, 20*time.Second, "edgepm.readings")
	waitFor(t, 10*time.Second, "buffer emptied", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })
	if st := p.Status(); !st.Online {
		t.Fatalf("status %+v", st)
	}
	checkDelivery(t, recs, base, 200, 200)
}

// SendNow, after Run returned (a shutdown), produces a buffered record with
// the pump's headers and its seq. When every earlier record of the stream
// was acknowledged it deletes the buffered copy; when one was not, the copy
// stays for the next Run. A record the pump already delivered is not sent
// twice. An unknown stream is an error naming it.
func TestSendNowAfterRun(t *testing.T) {
	srv := testenv.StartKafka(t)
	q := newTestQueue(t)
	p, err := NewProducer(q, testConfig(srv.Seeds()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	alert := func(dev string) buffer.Record {
		return buffer.Record{Stream: buffer.StreamAlerts, Key: []byte(dev), Value: []byte(`{"device":"` + dev + `"}`)}
	}
	pumped := []buffer.Record{alert("m0")}
	if err := q.Append(t.Context(), pumped); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, 20*time.Second, "the pump delivered m0", func() bool { return bufferRecords(q, buffer.StreamAlerts) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	recs := []buffer.Record{alert("m1")}
	if err := q.Append(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if err := p.SendNow(t.Context(), &recs[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.SendNow(t.Context(), &pumped[0]); err != nil { // delivered by the pump: not sent again
		t.Fatal(err)
	}
	got := consume(t, srv.Seeds(), 2, 20*time.Second, "edgepm.alerts")
	if r := got[1]; r.key != "m1" || r.seq != recs[0].Seq || r.headers[wire.HeaderGateway] != "gw-test" || r.headers[wire.HeaderStream] != "alerts" {
		t.Fatalf("sent %+v, want key m1, seq %d, the pump's headers", r, recs[0].Seq)
	}
	if n := bufferRecords(q, buffer.StreamAlerts); n != 0 {
		t.Fatalf("%d alerts buffered after SendNow of the only unacknowledged one, want 0", n)
	}

	// m2 was never sent: m3's copy must stay, and m2 with it.
	gap := []buffer.Record{alert("m2"), alert("m3")}
	if err := q.Append(t.Context(), gap); err != nil {
		t.Fatal(err)
	}
	if err := p.SendNow(t.Context(), &gap[1]); err != nil {
		t.Fatal(err)
	}
	if n := bufferRecords(q, buffer.StreamAlerts); n != 2 {
		t.Fatalf("%d alerts buffered after SendNow past an unsent one, want both kept for the next run", n)
	}
	if n := endOffset(t, srv.Seeds(), "edgepm.alerts"); n != 3 {
		t.Fatalf("edgepm.alerts holds %d records, want 3: m0 by the pump, m1 and m3 by SendNow, none twice", n)
	}
	err = p.SendNow(t.Context(), &buffer.Record{Stream: "nope", Key: []byte("k")})
	if err == nil || !strings.Contains(err.Error(), `stream "nope" is not configured`) {
		t.Fatalf("unknown stream: %v", err)
	}
}

// endOffset is the number of records topic holds (summed over partitions).
func endOffset(t *testing.T, seeds []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}
