package inference

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
)

// benchRows returns n queued-row values for model m over 50 devices, as
// Observe would produce them. The last hot devices score over the model's
// Raise (0.7) and have their alert raised after the first batch; the others
// score 0.27-0.40. Vectors are constant per device: no alert flapping.
func benchRows(e *Engine, m *model, n, hot int) []row {
	rows := make([]row, n)
	for i := range rows {
		d := e.device(fmt.Sprintf("dev-%d-%d", hot, i%50), 0)
		f, s, idx := m.feats.take() // as Observe does
		scale := float32(0.003)
		if i%50 >= 50-hot {
			scale = 0.1
		}
		for j := range f {
			f[j] = float32(i%50) * scale * float32(j+1)
		}
		rows[i] = row{m: m, dev: d, end: t0().Add(time.Duration(i) * time.Second),
			feat: f, slab: s, idx: idx, hash: featureHash(f, nil), ready: time.Now()}
	}
	return rows
}

// holdRows adds n references to rows' model and feature slabs, for a
// benchmark that scores (and so finishes) the same rows n times.
func holdRows(rows []row, n int) {
	rows[0].m.refs.Add(int64(n * len(rows)))
	for i := range rows {
		rows[i].slab.refs.Add(int64(n))
	}
}

// bareTensors fills sc's input buffer with rows' vectors and returns the
// input and output values of the bucket for len(rows), for a bare Run.
func bareTensors(sc *scorer, rows []row) (ins, outs []ort.Value) {
	in := sc.input(len(rows))
	for i := range rows {
		copy(in[i*sc.f:], rows[i].feat)
	}
	bk := sc.buckets[sc.bucket(len(rows))]
	return []ort.Value{bk.in}, []ort.Value{bk.out}
}

var (
	benchSink  float64
	benchPreds []Prediction
)

// BenchmarkScore compares edgepm's scoring of a batch (ONNX Runtime run on
// the rows where Observe computed them, predictions, alerts, metrics) with
// a bare onnxruntime_go Run of the same session on the same pre-filled
// batch, and with bare scoring that copies the batch into the tensor first.
// 32-feature MLP (32-16-1), one intra-op thread.
func BenchmarkScore(b *testing.B) {
	for _, n := range []int{1, 32, 256} {
		e := newTestEngine(b, EngineConfig{MaxBatch: 256})
		if err := e.Load(packageFor(b, "bench", "1", 32, 3)); err != nil {
			b.Fatal(err)
		}
		m := e.cur.Load()
		m.feats.take() // one row ahead: these rows start at row 1 of a slab and are copied
		unaligned := benchRows(e, m, n, 2)
		m.feats.seal(unaligned[n-1].slab, 0)
		rows := benchRows(e, m, n, 2) // the first rows of a fresh slab: read in place
		m.feats.seal(rows[n-1].slab, 0)
		alerting := benchRows(e, m, n, 50)
		for _, v := range []struct {
			name string
			rows []row
			emit func(*Batch)
		}{
			// The engine's path: run on the rows in place, finite check,
			// alert hysteresis, metrics, the Batch view. emit ignores the
			// batch. 2 of the 50 devices have an alert raised.
			{"edgepm", rows, func(*Batch) {}},
			// The same with every device's alert raised: every row takes
			// the hysteresis path.
			{"edgepm-alerting", alerting, func(*Batch) {}},
			// The same, plus an emit that reads every prediction's fields
			// through the Batch accessors (what a consumer does).
			{"edgepm+read", rows, func(b *Batch) {
				for i := range b.Len() {
					name, _ := b.Model(i)
					benchSink += b.Score(i) + float64(len(b.Device(i))+len(name)+len(b.FeatureHash(i))) +
						float64(b.WindowEnd(i).Unix())
				}
			}},
			// The same, plus an emit that deep-copies every prediction
			// (Prediction values with their own Outputs) into a reused slice.
			{"edgepm+copy", rows, func(b *Batch) { benchPreds = b.AppendPredictions(benchPreds[:0]) }},
			// A batch that does not start a slab (after a batch cut short
			// while Observe kept filling the slab): copied into the tensor.
			{"edgepm-unaligned", unaligned, func(*Batch) {}},
		} {
			b.Run(fmt.Sprintf("%s/batch=%d", v.name, n), func(b *testing.B) {
				holdRows(v.rows, b.N)         // score finishes every row once per call
				batch := slices.Clone(v.rows) // score leaves the rows in place
				b.ReportAllocs()
				for b.Loop() {
					e.score(batch, v.emit)
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
			})
		}
		b.Run(fmt.Sprintf("tensor/batch=%d", n), func(b *testing.B) {
			// Bare onnxruntime_go scoring of the same batch: copy its rows
			// into the input tensor, Run, copy the outputs out.
			sc := m.sc
			out := make([]float32, n)
			b.ReportAllocs()
			for b.Loop() {
				in := sc.input(n)
				for i := range rows {
					copy(in[i*sc.f:(i+1)*sc.f], rows[i].feat)
				}
				o, err := sc.run(n)
				if err != nil {
					b.Fatal(err)
				}
				copy(out, o)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(fmt.Sprintf("bare/batch=%d", n), func(b *testing.B) {
			// Run alone, on the input tensor filled once.
			sc := m.sc
			ins, outs := bareTensors(sc, rows)
			b.ReportAllocs()
			for b.Loop() {
				if err := sc.sess.Run(ins, outs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkScoreOverhead measures what edgepm adds per row to ONNX
// Runtime's own time, on each scoring path (EngineConfig.Scoring): it
// alternates blocks of 64 bare onnxruntime_go Runs of the session on a
// tensor filled beforehand and 64 Engine.score calls of the same batch
// (input, Run, output check, the alert rule for every row, metrics, the
// Batch view, emit), so that both see the same machine. Times are the
// benchmark thread's CPU time (testenv.ThreadCPU; ONNX Runtime runs on the calling
// thread with the default one intra-op thread), which leaves out the time
// other processes on a shared VM take from the core; wall-clock time where
// that is not available. 2 of the batch's 50 devices have an alert raised.
// Reports over-ort-ns/row = (edgepm - bare) / rows, the target being
// <= 200, both times per batch, and wall-over-ns/row, the same from
// wall-clock time. b.N is the number of batches of each.
func BenchmarkScoreOverhead(b *testing.B) {
	for _, path := range []string{ScoringFast, ScoringReference} {
		for _, n := range []int{1, 32, 256} {
			e := newTestEngine(b, EngineConfig{MaxBatch: 256, Scoring: path})
			if err := e.Load(packageFor(b, "bench", "1", 32, 3)); err != nil {
				b.Fatal(err)
			}
			m := e.cur.Load()
			rows := benchRows(e, m, n, 2)
			b.Run(fmt.Sprintf("%s/batch=%d", path, n), func(b *testing.B) { measureOverhead(b, e, m, rows) })
		}
	}
}

// measureOverhead reports the Run thread's CPU time per batch of
// e.score(rows) against a bare ONNX Runtime Run of m's session on the same
// batch, interleaved in blocks of 64 so both see the same machine.
func measureOverhead(b *testing.B, e *Engine, m *model, rows []row) {
	sc, n := m.sc, len(rows)
	ins, outs := bareTensors(sc, rows)
	emit := func(*Batch) {}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := func() time.Duration {
		if d, ok := testenv.ThreadCPU(); ok {
			return d
		}
		return time.Duration(time.Now().UnixNano())
	}
	holdRows(rows, b.N)
	batch := slices.Clone(rows)
	const block = 64
	var bare, edgepm, wallBare, wallEdgepm time.Duration
	for done := 0; done < b.N; done += block {
		k := min(block, b.N-done)
		t, w := clock(), time.Now()
		for range k {
			if err := sc.sess.Run(ins, outs); err != nil {
				b.Fatal(err)
			}
		}
		t1, w1 := clock(), time.Now()
		for range k {
			e.score(batch, emit)
		}
		t2, w2 := clock(), time.Now()
		bare, edgepm = bare+t1-t, edgepm+t2-t1
		wallBare, wallEdgepm = wallBare+w1.Sub(w), wallEdgepm+w2.Sub(w1)
	}
	b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "bare-ns/batch")
	b.ReportMetric(float64(edgepm.Nanoseconds())/float64(b.N), "edgepm-ns/batch")
	b.ReportMetric(float64((edgepm-bare).Nanoseconds())/float64(b.N*n), "over-ort-ns/row")
	b.ReportMetric(float64((wallEdgepm-wallBare).Nanoseconds())/float64(b.N*n), "wall-over-ns/row")
}

// BenchmarkWindowToPrediction feeds 20,000 windows/s (bursts of 20 every
// millisecond over 500 devices, window 10 hop 1 so every reading completes
// a window) and reports the p50/p99 time from Observe (window ready) to the
// prediction's emit. Run with -benchtime=40000x (2 s).
func BenchmarkWindowToPrediction(b *testing.B) {
	const rate, burst, devices = 20000, 20, 500
	e := newTestEngine(b, EngineConfig{})
	if err := e.Load(packageFor(b, "lat", "1", 32, 4)); err != nil {
		b.Fatal(err)
	}
	// Warm every device's window so each further reading is a window.
	for d := 0; d < devices; d++ {
		for i := 0; i < 9; i++ {
			if err := e.Observe(context.Background(), reading(fmt.Sprintf("d%d", d), i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	sent := make([]time.Time, b.N)
	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	idx := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- e.Run(ctx, func(bt *Batch) {
			now := time.Now()
			mu.Lock()
			for i := range bt.Len() {
				k := (int(bt.WindowEnd(i).Sub(reading("", 9).Time)/time.Second))*devices + idx[bt.Device(i)]
				lat = append(lat, now.Sub(sent[k]))
			}
			mu.Unlock()
		})
	}()
	for d := 0; d < devices; d++ {
		idx[fmt.Sprintf("d%d", d)] = d
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if i%burst == 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
		}
		d := i % devices
		r := reading(fmt.Sprintf("d%d", d), 9+i/devices)
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if err := e.Observe(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n == b.N {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "windows/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkFeatures measures the feature path (Window.Push + Plan.Compute)
// for the default model's 32 features over 5 sensors; samples/s counts
// sensor values consumed.
func BenchmarkFeatures(b *testing.B) {
	man, err := modelpkg.DecodeManifest(mustRead(b, "../models/default/manifest.json"))
	if err != nil {
		b.Fatal(err)
	}
	plan, _ := features.NewPlan(man.Features, man.Imputation())
	for _, hop := range []int{5, 1} {
		b.Run(fmt.Sprintf("window=30/hop=%d", hop), func(b *testing.B) {
			cfg := features.WindowConfig{Size: 30, Hop: hop}
			w, _ := plan.NewWindow(cfg)
			dst := make([]float32, plan.Len())
			vals := map[string]float64{"vibration_rms": 2.1, "vibration_kurtosis": 3.1, "bearing_temp_c": 60, "current_a": 40, "speed_rpm": 2950}
			t := t0()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				vals["vibration_rms"] = 2 + float64(i%13)*0.01
				t = t.Add(time.Second)
				res, err := w.Push(t, vals, nil)
				if err != nil {
					b.Fatal(err)
				}
				if res.Ready {
					plan.Compute(w, dst)
				}
				i++
			}
			b.ReportMetric(float64(b.N*len(vals))/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkObserve measures Engine.Observe end to end on the feature side
// (window, features, lineage hash, drift sums, queueing) with a consumer
// draining the queue; default model, hop 5.
func BenchmarkObserve(b *testing.B) {
	e := newTestEngine(b, EngineConfig{})
	mb, ob := readDefault(b)
	if err := e.Load(&modelpkg.Package{Manifest: mb, ONNX: ob}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx, func(*Batch) {}) }()
	vals := map[string]float64{"vibration_rms": 2.1, "vibration_kurtosis": 3.1, "bearing_temp_c": 60, "current_a": 40, "speed_rpm": 2950}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := e.Observe(ctx, Reading{Device: "d", Time: t0().Add(time.Duration(i) * time.Second), Values: vals}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*len(vals))/b.Elapsed().Seconds(), "samples/s")
	cancel()
	<-done
}
