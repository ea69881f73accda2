package buffer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchDir is where benchmark files go: $EDGEPM_BENCH_DIR (to measure a
// particular disk) or the test's temp dir.
func benchDir(b *testing.B) string {
	if d := os.Getenv("EDGEPM_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

func benchQueue(b *testing.B, opts Options) *Queue {
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 4 << 30 // benchmarks measure appends, not drops
	}
	q, err := Open(filepath.Join(benchDir(b), "buffer.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close() })
	return q
}

func benchRecord() Record {
	return Record{Stream: StreamReadings, Key: []byte("pump-0001"), Value: make([]byte, 200)}
}

// BenchmarkAppendDurable: 16 concurrent appenders of 200-byte records, each
// Append call carrying batch records, every call durable (fsync).
func BenchmarkAppendDurable(b *testing.B) {
	for _, batch := range []int{1, 64, 256} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			q := benchQueue(b, Options{})
			const appenders = 16
			var next atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(200)
			b.ResetTimer()
			for range appenders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					recs := make([]Record, batch)
					for next.Add(int64(batch)) <= int64(b.N)+int64(batch)-1 {
						for i := range recs {
							recs[i] = benchRecord()
						}
						if err := q.Append(context.Background(), recs); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAppendLatencyPaced issues single-record Appends at a fixed
// 20,000 records/s from a pool of goroutines and reports latency
// percentiles, measured from each record's scheduled time (so a stall
// counts against every record that should have been sent during it).
func BenchmarkAppendLatencyPaced(b *testing.B) {
	const rate = 20000
	q := benchQueue(b, Options{})
	interval := time.Second / rate
	lat := make([]time.Duration, b.N)
	work := make(chan int, 4096)
	var wg sync.WaitGroup
	for range 1024 { // in-flight Appends, as many MQTT messages awaiting their PUBACK
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]Record, 1)
			for i := range work {
				due := time.Duration(i) * interval
				recs[0] = benchRecord()
				if err := q.Append(context.Background(), recs); err != nil {
					b.Error(err)
				}
				lat[i] = time.Since(startPaced) - due
			}
		}()
	}
	b.ResetTimer()
	startPaced = time.Now()
	for i := range b.N {
		if d := time.Until(startPaced.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		work <- i
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

var startPaced time.Time

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkDrain reads and acks a durable backlog, as the bridge does:
// Read 4096 records after the last acked seq, Ack up to the last one.
func BenchmarkDrain(b *testing.B) {
	q := benchQueue(b, Options{})
	recs := make([]Record, 4096)
	for n := 0; n < b.N; n += len(recs) {
		for i := range recs {
			recs[i] = benchRecord()
		}
		if err := q.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(200)
	b.ResetTimer()
	var after uint64
	for done := 0; done < b.N; {
		got, err := q.Read(StreamReadings, after, min(4096, b.N-done))
		if err != nil || len(got) == 0 {
			b.Fatalf("read: %d, %v", len(got), err)
		}
		after = got[len(got)-1].Seq
		if err := q.Ack(StreamReadings, after); err != nil {
			b.Fatal(err)
		}
		done += len(got)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFsync measures one 16 KiB write + fdatasync in the benchmark
// directory: the floor under every durable commit (a bbolt commit does two:
// data pages, then the meta page). It reports the mean (ns/op) and the
// distribution, whose tail is what the paced append latency inherits.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(benchDir(b), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 16<<10)
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := f.WriteAt(page, int64(i%64)*int64(len(page))); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// BenchmarkFsyncPaced replays the I/O of the paced append benchmark's
// commits without the queue: 2,000 operations/s, each five 16 KiB pages +
// fdatasync, then one 4 KiB meta page + fdatasync (bbolt's commit), and
// reports the distribution and the share of wall time spent in operations
// slower than 2 ms. Its tail is the floor of BenchmarkAppendLatencyPaced's.
func BenchmarkFsyncPaced(b *testing.B) {
	f, err := os.Create(filepath.Join(benchDir(b), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const span = 64 << 20
	data, meta := make([]byte, 5*16<<10), make([]byte, 4<<10)
	if _, err := f.WriteAt(make([]byte, span), 0); err != nil {
		b.Fatal(err)
	}
	_ = syscall.Fdatasync(int(f.Fd()))
	lat := make([]time.Duration, b.N)
	var slow time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / 2000)); d > 0 {
			time.Sleep(d)
		}
		t := time.Now()
		off := int64(i) * int64(len(data)) % (span - int64(len(data)))
		_, err1 := f.WriteAt(data, off)
		err2 := syscall.Fdatasync(int(f.Fd()))
		_, err3 := f.WriteAt(meta, 0)
		if err := errors.Join(err1, err2, err3, syscall.Fdatasync(int(f.Fd()))); err != nil {
			b.Fatal(err)
		}
		if lat[i] = time.Since(t); lat[i] > 2*time.Millisecond {
			slow += lat[i]
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)*999/1000]), "p99.9-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(100*slow.Seconds()/b.Elapsed().Seconds(), "%time>2ms")
}
