package main

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/trainset"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Bench sizes: 200 devices × 1,000 readings (1 s apart) on 4 partitions.
const benchDevices, benchSteps, benchPartitions = 200, 1000, 4

// BenchmarkExtractFromKafka measures the training-set extraction of the
// default model (32 features, count window 30, hop 5) from kfake against
// bare franz-go consumption of the same records in the same run:
//
//	go test -run '^$' -bench ExtractFromKafka -benchtime 3x -count 3 ./cmd/edgepm-train
//
// Metrics: readings/s (wall clock); readings/cpu_s (per second of the
// process's CPU time, kfake's share included: the figure a loaded machine
// does not distort); x_bare (extraction's rate / bare consumption's rate,
// measured just before); peak_heap_MB (largest live heap sampled during a
// run, the 200,000 records' fetch buffers included).
func BenchmarkExtractFromKafka(b *testing.B) {
	seeds := testenv.StartKafka(b, kfake.DefaultNumPartitions(benchPartitions)).Seeds()
	from, to := produceBench(b, seeds)
	n := float64(benchDevices * benchSteps)
	var bare float64
	b.Run("franz-go", func(b *testing.B) {
		cpu0 := processCPU()
		peak := heapPeak(func() {
			for b.Loop() {
				if got := consumeBare(b, seeds); got != int(n) {
					b.Fatalf("consumed %d of %d", got, int(n))
				}
			}
		})
		bare = n * float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(bare, "readings/s")
		b.ReportMetric(n*float64(b.N)/(processCPU()-cpu0).Seconds(), "readings/cpu_s")
		b.ReportMetric(peak, "peak_heap_MB")
	})
	b.Run("extract", func(b *testing.B) {
		plan, _ := features.NewPlan(defaultSpecs(), nil)
		o := defaultOptions()
		cfg := trainset.Config{Brokers: seeds, From: from, To: to, Plan: plan, Window: o.Window, Horizon: o.Data.Horizon, Every: time.Minute}
		cpu0 := processCPU()
		peak := heapPeak(func() {
			for b.Loop() {
				res, err := trainset.Extract(context.Background(), cfg)
				if err != nil || res.Counts.Readings != int(n) {
					b.Fatalf("%v %+v", err, res)
				}
			}
		})
		rate := n * float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(rate, "readings/s")
		b.ReportMetric(n*float64(b.N)/(processCPU()-cpu0).Seconds(), "readings/cpu_s")
		if bare > 0 {
			b.ReportMetric(rate/bare, "x_bare")
		}
		b.ReportMetric(peak, "peak_heap_MB")
	})
}

// produceBench produces the plant's readings as the bridge would.
func produceBench(b *testing.B, seeds []string) (time.Time, time.Time) {
	p, err := sim.NewPlant(sim.Config{Seed: 1, Machines: benchDevices, Interval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(trainset.DefaultReadingsTopic))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	start := p.Now()
	var buf []sim.Reading
	for range benchSteps {
		buf = p.StepInto(time.Second, buf[:0])
		var recs []*kgo.Record
		for _, r := range buf {
			w := wire.Reading{V: wire.Version, Gateway: "gw", Device: r.Device, TS: r.Time.UnixMilli(), Received: r.Time.UnixMilli(), Values: r.Values}
			recs = append(recs, &kgo.Record{Key: []byte(r.Device), Value: wire.AppendReading(nil, &w, nil)})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	return start, p.Now().Add(time.Second)
}

// consumeBare reads every partition of the readings topic to its end
// offset with franz-go and nothing else, and returns the record count.
func consumeBare(b *testing.B, seeds []string) int {
	adm, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		b.Fatal(err)
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(context.Background(), trainset.DefaultReadingsTopic)
	if err != nil {
		b.Fatal(err)
	}
	left := map[int32]int64{}
	offs := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) { left[o.Partition], offs[o.Partition] = o.Offset, kgo.NewOffset().AtStart() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{trainset.DefaultReadingsTopic: offs}))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for len(left) > 0 {
		fs := cl.PollFetches(context.Background())
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return n
}

// processCPU returns the process's user + system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapPeak runs fn while sampling the live heap every 5 ms and returns
// the largest sample, in MB.
func heapPeak(fn func()) float64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	return float64(peak.Load()) / (1 << 20)
}
