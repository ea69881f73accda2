package bridge

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

func newTestQueue(t testing.TB) *buffer.Queue {
	t.Helper()
	return openTestQueue(t, filepath.Join(t.TempDir(), "buffer.db"))
}

func openTestQueue(t testing.TB, path string) *buffer.Queue {
	t.Helper()
	q, err := buffer.Open(path, buffer.Options{NoSync: true, MaxBytes: 1 << 30})
	if err != nil {
		t.Fatalf("open buffer: %v", err)
	}
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Errorf("close buffer: %v", err)
		}
	})
	return q
}

// appendReadings appends n readings spread over devices, value = device/n.
func appendReadings(t testing.TB, q *buffer.Queue, stream string, devices, n int, counter map[string]int) {
	t.Helper()
	recs := make([]buffer.Record, 0, n)
	for i := 0; i < n; i++ {
		dev := fmt.Sprintf("dev-%03d", i%devices)
		counter[dev]++
		recs = append(recs, buffer.Record{
			Stream:  stream,
			Key:     []byte(dev),
			Value:   fmt.Appendf(nil, `{"device":%q,"n":%d}`, dev, counter[dev]),
			Headers: []buffer.Header{{Key: "edgepm-schema", Value: []byte("1")}},
		})
	}
	if err := q.Append(context.Background(), recs); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func testConfig(seeds []string) Config {
	return Config{
		Brokers:      seeds,
		GatewayID:    "gw-test",
		CreateTopics: true,
		Partitions:   3,
		Linger:       time.Millisecond,
		AckInterval:  20 * time.Millisecond,
		Link: LinkConfig{
			PingInterval:    200 * time.Millisecond,
			OfflineAfter:    2 * time.Second,
			RetryBackoffMin: 50 * time.Millisecond,
			RetryBackoffMax: 500 * time.Millisecond,
		},
	}
}

// runProducer starts p.Run and returns a stop func that cancels it, waits
// and closes p.
func runProducer(t testing.TB, p *Producer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = p.Run(ctx) })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if runErr != nil {
				t.Errorf("Run: %v", runErr)
			}
			if err := p.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// got is one consumed record.
type got struct {
	topic, key, value string
	headers           map[string]string
	partition         int32
	offset            int64
	seq               uint64
}

// consume reads topics from the start until want distinct (stream, seq)
// pairs arrived or timeout, and returns every record in partition order.
func consume(t testing.TB, seeds []string, want int, timeout time.Duration, topics ...string) []got {
	t.Helper()
	return consumeWith(t, nil, seeds, want, timeout, topics...)
}

// consumeWith is consume with extra client options (SASL ...).
func consumeWith(t testing.TB, opts []kgo.Opt, seeds []string, want int, timeout time.Duration, topics ...string) []got {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []got
	distinct := map[string]bool{}
	for len(distinct) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d distinct of %d records before timeout", len(distinct), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			g := got{topic: r.Topic, key: string(r.Key), value: string(r.Value), headers: map[string]string{},
				partition: r.Partition, offset: r.Offset}
			for _, h := range r.Headers {
				g.headers[h.Key] = string(h.Value)
			}
			g.seq, _ = strconv.ParseUint(g.headers[wire.HeaderSeq], 10, 64)
			distinct[g.headers[wire.HeaderStream]+"/"+g.headers[wire.HeaderSeq]] = true
			out = append(out, g)
		})
	}
	return out
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func bufferRecords(q *buffer.Queue, stream string) int64 { return q.Stats().Streams[stream].Records }

// lastSeq is the last sequence the buffer assigned in stream: records
// appended next get lastSeq+1, ... (a new stream starts at a time-based
// floor, not at 1).
func lastSeq(q *buffer.Queue, stream string) uint64 { return q.Stats().Streams[stream].LastSeq }

// kafkaOn is a kfake cluster on a given port (the producer may already be
// dialling it), closed at cleanup.
type kafkaOn struct {
	c    *kfake.Cluster
	port int
}

func (k *kafkaOn) Seeds() []string { return []string{fmt.Sprintf("127.0.0.1:%d", k.port)} }

func startKafkaOn(t testing.TB, port int, opts ...kfake.Opt) *kafkaOn {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(1), kfake.AllowAutoTopicCreation()}, opts...)
	c, err := kfake.NewCluster(append(opts, kfake.Ports(port))...)
	if err != nil {
		t.Fatalf("start kfake on %d: %v", port, err)
	}
	t.Cleanup(c.Close)
	return &kafkaOn{c: c, port: port}
}

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
