package inference

import (
	"fmt"
	"testing"
)

// BenchmarkScoreShadow is BenchmarkScoreOverhead on the fast path with no
// shadow model and with one loaded (another 32-16-1 MLP on the same
// features): over-ort-ns/row is the served path's cost on Run's thread
// beyond ONNX Runtime, which a shadow must not raise beyond its hand-over
// (the copy of the batch into its inbox, a wake-up when it was idle). The
// shadow scores on its own goroutine, competing for the CPU; shadow-kept-%
// is the share of windows it scored rather than dropped (queue_full) while
// the served path ran flat out.
func BenchmarkScoreShadow(b *testing.B) {
	for _, shadow := range []bool{false, true} {
		for _, n := range []int{1, 32, 256} {
			e := newTestEngine(b, EngineConfig{MaxBatch: 256})
			if err := e.Load(packageFor(b, "bench", "1", 32, 3)); err != nil {
				b.Fatal(err)
			}
			if shadow {
				if err := e.LoadShadow(packageFor(b, "challenger", "2", 32, 5)); err != nil {
					b.Fatal(err)
				}
			}
			m := e.cur.Load()
			rows := benchRows(e, m, n, 2)
			name := map[bool]string{false: "none", true: "loaded"}[shadow]
			b.Run(fmt.Sprintf("shadow=%s/batch=%d", name, n), func(b *testing.B) {
				measureOverhead(b, e, m, rows)
				if st := e.ShadowStats(); st != nil && st.Windows+st.Dropped > 0 {
					b.ReportMetric(100*float64(st.Windows)/float64(st.Windows+st.Dropped), "shadow-kept-%")
				}
			})
			e.ClearShadow()
		}
	}
}
