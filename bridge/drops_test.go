package bridge

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

func TestPermanentErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason string
	}{
		{fmt.Errorf("%w (uncompressed_bytes=9)", kerr.MessageTooLarge), DropTooLarge},
		{kerr.RecordListTooLarge, DropTooLarge},
		{kerr.InvalidRecord, DropInvalidRecord},
		{kerr.CorruptMessage, DropCorruptMessage},
		{kerr.InvalidTimestamp, DropInvalidTimestmp},
		// Retried: a fixable configuration fault, transient or client-side.
		{kerr.TopicAuthorizationFailed, ""},
		{kerr.NotLeaderForPartition, ""},
		{kerr.UnknownTopicOrPartition, ""},
		{kgo.ErrRecordTimeout, ""},
		{context.Canceled, ""},
		{errors.New("dial tcp: connection refused"), ""},
	} {
		reason, ok := permanentError(tc.err)
		if reason != tc.reason || ok != (tc.reason != "") {
			t.Errorf("%v: got %q %v, want %q", tc.err, reason, ok, tc.reason)
		}
	}
}

// createTopic makes topic with configs before the producer starts.
func createTopic(t *testing.T, seeds []string, topic string, configs map[string]*string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := contextTimeout(10 * time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// dropEvents returns the uplink.record_dropped events consumed from Kafka
// until their records add up to want.
func dropEvents(t *testing.T, seeds []string, want int) []wire.Event {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("edgepm.events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := contextTimeout(30 * time.Second)
	defer cancel()
	var out []wire.Event
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d dropped records reported in events, want %d: %+v", n, want, out)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var ev wire.Event
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				t.Fatalf("event %q: %v", r.Value, err)
			}
			if ev.Type == wire.EventRecordDropped {
				out = append(out, ev)
				n += int(ev.Detail["records"].(float64))
			}
		})
	}
	return out
}

// checkSmallDelivered checks that every small reading arrived and each
// device's readings in order (first occurrences).
func checkSmallDelivered(t *testing.T, recs []got, counter map[string]int, order arrival) {
	t.Helper()
	first, seen := []got{}, map[uint64]bool{}
	for _, r := range recs {
		if !seen[r.seq] {
			seen[r.seq] = true
			first = append(first, r)
		}
	}
	if order == bySeq {
		slices.SortStableFunc(first, func(a, b got) int { return cmp.Compare(a.seq, b.seq) })
	}
	lastN := map[string]int{}
	for _, r := range first {
		var v struct {
			Device string `json:"device"`
			N      int    `json:"n"`
		}
		if err := json.Unmarshal([]byte(r.value), &v); err != nil {
			t.Fatalf("a record that is not a small reading arrived: seq %d, %d bytes", r.seq, len(r.value))
		}
		if v.N != lastN[r.key]+1 {
			for i, x := range recs {
				t.Logf("%d: off %d seq %d key %s %.40s", i, x.offset, x.seq, x.key, x.value)
			}
			t.Fatalf("device %s: reading %d after %d (seq %d, %s)", r.key, v.N, lastN[r.key], r.seq, order)
		}
		lastN[r.key] = v.N
	}
	for dev, n := range counter {
		if lastN[dev] != n {
			t.Fatalf("device %s: %d readings arrived, want %d", dev, lastN[dev], n)
		}
	}
}

// arrival is the order checkSmallDelivered requires of each device's
// records.
type arrival string

const (
	// inOffsetOrder: first occurrences in Kafka in sequence order (no
	// produce failed).
	inOffsetOrder arrival = "in offset order"
	// bySeq: every record arrived, and ordered by edgepm-seq a device's
	// records are in order. After a produce failure that is the guarantee:
	// the narrow window of bridge/doc.go's Caveats can append a later
	// record ahead of a failed one (seen under -race in CI).
	bySeq arrival = "ordered by seq"
)

// A record larger than the topic's max.message.bytes (but within
// batch_max_bytes) is refused by the broker with MESSAGE_TOO_LARGE for its
// whole batch, and kgo fails the rest of the partition with it. The stream
// must not rewind forever: the refused records are found, dropped (counter,
// status, event), deleted from the buffer, and every other record arrives,
// in order by edgepm-seq.
func TestProducerDropsRecordsKafkaRefuses(t *testing.T) {
	srv := testenv.StartKafka(t)
	createTopic(t, srv.Seeds(), "edgepm.readings", map[string]*string{"max.message.bytes": kadm.StringPtr("65536")})
	q := newTestQueue(t)
	counter := map[string]int{}
	var big []uint64
	for i := range 3 {
		appendReadings(t, q, buffer.StreamReadings, 10, 300, counter)
		if err := q.Append(context.Background(), []buffer.Record{{Stream: buffer.StreamReadings,
			Key: []byte("dev-003"), Value: randomBytes(100<<10, uint64(i))}}); err != nil {
			t.Fatal(err)
		}
		big = append(big, lastSeq(q, buffer.StreamReadings))
	}
	appendReadings(t, q, buffer.StreamReadings, 10, 300, counter)

	p, err := NewProducer(q, testConfig(srv.Seeds()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)
	recs := consume(t, srv.Seeds(), 1200, 60*time.Second, "edgepm.readings")
	waitFor(t, 30*time.Second, "buffer emptied", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })
	evs := dropEvents(t, srv.Seeds(), 3)
	st := readingsStatus(p)
	stop()

	checkSmallDelivered(t, recs, counter, bySeq)
	if st.Dropped[DropTooLarge] != 3 || st.DroppedTooLarge != 3 || st.Isolating {
		t.Fatalf("status after drops: %+v", st)
	}
	if n := testutil.ToFloat64(p.m.dropped.WithLabelValues(buffer.StreamReadings, DropTooLarge)); n != 3 {
		t.Fatalf("dropped counter %v, want 3", n)
	}
	var seqs []uint64
	for _, ev := range evs {
		d := ev.Detail
		if d["stream"] != buffer.StreamReadings || d["reason"] != DropTooLarge || d["topic"] != "edgepm.readings" ||
			!bytes.Contains([]byte(fmt.Sprint(d["error"])), []byte("MESSAGE_TOO_LARGE")) || ev.Gateway != "gw-test" {
			t.Fatalf("drop event %+v", ev)
		}
		for s := uint64(d["first_seq"].(float64)); s <= uint64(d["last_seq"].(float64)); s++ {
			seqs = append(seqs, s)
		}
	}
	for _, s := range big {
		if !containsSeq(seqs, s) {
			t.Fatalf("big record seq %d not in the drop events %+v", s, evs)
		}
	}
}

func containsSeq(seqs []uint64, s uint64) bool {
	for _, x := range seqs {
		if x == s {
			return true
		}
	}
	return false
}

func readingsStatus(p *Producer) StreamStatus {
	for _, s := range p.Status().Streams {
		if s.Stream == buffer.StreamReadings {
			return s
		}
	}
	return StreamStatus{}
}

// A broker that refuses a batch with INVALID_RECORD because of one record
// in it: only that record is dropped (reason invalid_record); the records
// batched with it are sent again and arrive.
func TestProducerDropsInvalidRecordOnly(t *testing.T) {
	kafkaSrv := testenv.StartKafka(t)
	c, seeds := kafkaSrv.Cluster(), kafkaSrv.Seeds()
	poison := []byte("poison-record")
	fh := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "edgepm.readings", Err: kerr.InvalidRecord, Count: -1,
		When: func(req kmsg.Request) bool {
			for _, rt := range req.(*kmsg.ProduceRequest).Topics {
				for _, rp := range rt.Partitions {
					if bytes.Contains(rp.Records, poison) {
						return true
					}
				}
			}
			return false
		}})
	defer fh.Remove()
	q := newTestQueue(t)
	counter := map[string]int{}
	appendReadings(t, q, buffer.StreamReadings, 5, 400, counter)
	if err := q.Append(context.Background(), []buffer.Record{{Stream: buffer.StreamReadings, Key: []byte("dev-001"), Value: poison}}); err != nil {
		t.Fatal(err)
	}
	appendReadings(t, q, buffer.StreamReadings, 5, 400, counter)
	cfg := testConfig(seeds)
	cfg.Compression = "none" // so the fault sees the poison bytes
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)
	recs := consume(t, seeds, 800, 60*time.Second, "edgepm.readings")
	waitFor(t, 30*time.Second, "buffer emptied", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })
	evs := dropEvents(t, seeds, 1)
	st := readingsStatus(p)
	stop()
	checkSmallDelivered(t, recs, counter, bySeq)
	if st.Dropped[DropInvalidRecord] != 1 || len(st.Dropped) != 1 || fh.Hits() == 0 {
		t.Fatalf("status %+v, fault hits %d", st, fh.Hits())
	}
	if d := evs[0].Detail; d["reason"] != DropInvalidRecord || d["records"].(float64) != 1 {
		t.Fatalf("drop event %+v", evs[0])
	}
}

// A record that cannot fit kafka.batch_max_bytes is dropped before it is
// sent, with the same counter, status and event as a broker refusal.
func TestProducerDropsRecordLargerThanBatch(t *testing.T) {
	srv := testenv.StartKafka(t)
	q := newTestQueue(t)
	counter := map[string]int{}
	appendReadings(t, q, buffer.StreamReadings, 3, 20, counter)
	if err := q.Append(context.Background(), []buffer.Record{{Stream: buffer.StreamReadings,
		Key: []byte("dev-001"), Value: randomBytes(4096, 7)}}); err != nil {
		t.Fatal(err)
	}
	appendReadings(t, q, buffer.StreamReadings, 3, 20, counter)
	cfg := testConfig(srv.Seeds())
	cfg.BatchMaxBytes = 2048
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)
	recs := consume(t, srv.Seeds(), 40, 30*time.Second, "edgepm.readings")
	waitFor(t, 30*time.Second, "buffer emptied", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })
	evs := dropEvents(t, srv.Seeds(), 1)
	st := readingsStatus(p)
	stop()
	checkSmallDelivered(t, recs, counter, inOffsetOrder)
	if st.Dropped[DropTooLarge] != 1 || st.Sent != 40 {
		t.Fatalf("status %+v", st)
	}
	if d := evs[0].Detail; d["reason"] != DropTooLarge || !bytes.Contains([]byte(fmt.Sprint(d["error"])), []byte("batch_max_bytes")) {
		t.Fatalf("drop event %+v", evs[0])
	}
}
