package bridge

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

// BenchmarkDrain measures the backlog drain: buffer (bbolt) -> read ->
// produce to a local kfake -> acknowledge -> delete from the buffer, for
// 200-byte records, and beside it the bare franz-go producer rate with the
// same client options (records made in memory, no buffer) as the ceiling.
//
//	go test -run '^$' -bench BenchmarkDrain -benchtime 200000x ./bridge/
func BenchmarkDrain(b *testing.B) {
	n := max(b.N, 50000)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.AllowAutoTopicCreation())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	seeds := c.ListenAddrs()
	cfg := Config{Brokers: seeds, GatewayID: "bench", CreateTopics: true, Partitions: 3}.WithDefaults()

	ceiling := bareProduce(b, cfg, n)

	q, err := buffer.Open(filepath.Join(b.TempDir(), "b.db"), buffer.Options{MaxBytes: 4 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	value := make([]byte, 200)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	for done := 0; done < n; {
		k := min(10000, n-done)
		recs := make([]buffer.Record, k)
		for i := range recs {
			recs[i] = buffer.Record{Stream: buffer.StreamReadings, Key: fmt.Appendf(nil, "dev-%04d", (done+i)%1000), Value: value}
		}
		if err := q.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	runtime.GC()

	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ctx) })
	for q.Stats().Streams[buffer.StreamReadings].Records > 0 {
		time.Sleep(2 * time.Millisecond)
	}
	drain := float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	cancel()
	wg.Wait()
	p.Close()
	b.ReportMetric(drain, "drain_rec/s")
	b.ReportMetric(ceiling, "ceiling_rec/s")
	b.ReportMetric(100*drain/ceiling, "pct_of_ceiling")
	b.Logf("%d records of 200 bytes: drain %.0f rec/s, bare franz-go %.0f rec/s (%.0f%%), GOMAXPROCS=%d",
		n, drain, ceiling, 100*drain/ceiling, runtime.GOMAXPROCS(0))
}

// bareProduce produces n 200-byte records with the producer's kgo options
// and returns records/s until all are acknowledged.
func bareProduce(b *testing.B, cfg Config, n int) float64 {
	opts, err := clientOpts(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	popts, _ := producerOpts(cfg)
	cl, err := kgo.NewClient(append(append(opts, popts...), kgo.AllowAutoTopicCreation())...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := ensureTopics(context.Background(), cl, cfg, []string{"bare"}, nil); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 200)
	sem := make(chan struct{}, cfg.MaxInFlight)
	var failed error
	var mu sync.Mutex
	start := time.Now()
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		r := &kgo.Record{Topic: cfg.Topic("bare"), Key: fmt.Appendf(nil, "dev-%04d", i%1000), Value: value,
			Headers: []kgo.RecordHeader{{Key: wire.HeaderGateway, Value: []byte("bench")}, {Key: wire.HeaderStream, Value: []byte("bare")},
				{Key: wire.HeaderSeq, Value: fmt.Appendf(nil, "%d", i)}}}
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
			<-sem
		})
	}
	if err := cl.Flush(context.Background()); err != nil || failed != nil {
		b.Fatal(err, failed)
	}
	return float64(n) / time.Since(start).Seconds()
}
