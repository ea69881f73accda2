package inference

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/onnxgen"
)

// vmRSS returns the process resident set size in bytes from /proc/self/status.
func vmRSS(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatal("VmRSS not found")
	return 0
}

func settledRSS(t testing.TB) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return vmRSS(t)
}

// TestSwapUnderLoad swaps between two models 1,000 times while readings
// flow and checks that every due window is scored exactly once, that the
// replaced sessions are released and that RSS does not grow by more than
// 20 MB over the swaps.
func TestSwapUnderLoad(t *testing.T) {
	const (
		swaps   = 1000
		devices = 8
		f       = 32
	)
	e := newTestEngine(t, EngineConfig{MaxBatch: 64})
	pkgs := []*modelpkg.Package{packageFor(t, "swap", "a", f, 11), packageFor(t, "swap", "b", f, 12)}
	if err := e.Load(pkgs[0]); err != nil {
		t.Fatal(err)
	}
	// Rows of one device are emitted in order, so exactly-once means each
	// device's window ends are readings 9, 10, 11, ... without gap or repeat.
	var mu sync.Mutex
	next := map[string]int{}
	var scored atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() {
		runDone <- e.Run(ctx, func(b *Batch) {
			mu.Lock()
			for i := range b.Len() {
				x := b.prediction(i)
				if x.ModelVersion != "a" && x.ModelVersion != "b" {
					t.Errorf("prediction from %s:%s", x.Model, x.ModelVersion)
				}
				want, ok := next[x.Device]
				if !ok {
					want = 9
				}
				if got := reading(x.Device, want).Time; !x.WindowEnd.Equal(got) {
					t.Errorf("%s: window end %v, want %v (lost or duplicated row)", x.Device, x.WindowEnd, got)
				}
				next[x.Device] = want + 1
			}
			mu.Unlock()
			scored.Add(int64(b.Len()))
		})
	}()

	// Feed readings until the swaps are done.
	stop := make(chan struct{})
	sent := make([]int, devices)
	feedDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				feedDone <- nil
				return
			default:
			}
			for d := 0; d < devices; d++ {
				if err := e.Observe(context.Background(), reading(fmt.Sprintf("dev-%d", d), i)); err != nil {
					feedDone <- err
					return
				}
				sent[d]++
			}
			if i%64 == 0 {
				time.Sleep(100 * time.Microsecond) // keep the load continuous but not saturating 2 cores
			}
		}
	}()

	var base int64
	start := time.Now()
	for i := 0; i < swaps; i++ {
		if i == 50 {
			base = settledRSS(t)
		}
		if err := e.Load(pkgs[(i+1)%2]); err != nil {
			t.Fatalf("swap %d: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	grown := settledRSS(t) - base
	close(stop)
	if err := <-feedDone; err != nil {
		t.Fatal(err)
	}
	// Every due window: readings 9.. of each device (window 10, hop 1).
	want := 0
	for _, n := range sent {
		want += max(0, n-9)
	}
	waitFor(t, "all rows scored", func() bool { return scored.Load() >= int64(want) })
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if scored.Load() != int64(want) {
		t.Fatalf("scored %d rows, want %d", scored.Load(), want)
	}
	for d, n := range sent {
		if got := next[fmt.Sprintf("dev-%d", d)]; got != n {
			t.Fatalf("dev-%d: scored up to reading %d, sent %d", d, got, n)
		}
	}
	if got := e.freed.Load(); got != swaps {
		t.Fatalf("%d sessions released after %d swaps", got, swaps)
	}
	t.Logf("%d swaps in %v (%.2f ms/swap), %d rows scored, RSS growth after warm-up %.1f MB",
		swaps, elapsed, float64(elapsed.Microseconds())/1000/swaps, want, float64(grown)/(1<<20))
	if grown > 20<<20 {
		t.Fatalf("RSS grew by %.1f MB over %d swaps (limit 20 MB)", float64(grown)/(1<<20), swaps)
	}
}

func packageFor(t testing.TB, name, version string, f int, seed uint64) *modelpkg.Package {
	t.Helper()
	g := testGraph(f, 16, seed)
	onnx, err := onnxgen.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := modelpkg.NewPackage(testManifest(name, version, g, testSpecs(f)), onnx)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}
