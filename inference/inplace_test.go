package inference

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/onnxgen"
)

// observeAll feeds readings 0..n-1 of each device, one goroutine per group
// of devices, and waits for them.
func observeAll(t *testing.T, e *Engine, groups [][]string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, devs := range groups {
		wg.Go(func() {
			for i := range n {
				for _, d := range devs {
					if err := e.Observe(context.Background(), reading(d, i)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// checkScores checks every prediction's score against onnxgen.Eval of its
// feature vector and that each (device, window end) is scored once.
func checkScores(t *testing.T, c *collector, g *onnxgen.Model, want int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.preds) != want {
		t.Fatalf("%d predictions, want %d", len(c.preds), want)
	}
	seen := map[string]bool{}
	for _, p := range c.preds {
		key := fmt.Sprint(p.Device, p.WindowEnd.UnixNano())
		if seen[key] {
			t.Fatalf("%s scored twice", key)
		}
		seen[key] = true
		if w := float64(evalRef(g, p.Features)); math.Abs(p.Score-w) > 1e-5 || p.FeatureHash != FeatureHash(p.Features) {
			t.Fatalf("%s: score %v for its features, want %v (hash %s)", key, p.Score, w, p.FeatureHash)
		}
	}
}

// arenaIdle checks that every row of m's feature arena was finished and at
// most featSlabsKept slabs are kept.
func arenaIdle(t *testing.T, m *model) {
	t.Helper()
	a := &m.feats
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil && a.cur.refs.Load() != 0 {
		t.Errorf("current slab has %d unfinished rows", a.cur.refs.Load())
	}
	if len(a.free) > featSlabsKept {
		t.Errorf("%d free slabs kept, want <= %d", len(a.free), featSlabsKept)
	}
	for i, s := range a.free {
		if s.refs.Load() != 0 {
			t.Errorf("free slab has %d unfinished rows", s.refs.Load())
		}
		if !s.recycled || slices.Contains(a.free[:i], s) {
			t.Errorf("free slab %d is not marked recycled or is listed twice", i)
		}
	}
}

// TestInPlaceScoresMatchReference: with small slabs (MaxBatch 8) and three
// goroutines observing, batches are read in place where they line up with a
// slab and copied where they do not (the first rows start a slab's row 1);
// every score matches the reference evaluation of its own feature vector
// either way, every window is scored once, and every slab row is finished.
func TestInPlaceScoresMatchReference(t *testing.T) {
	e := newTestEngine(t, EngineConfig{IncludeFeatures: true, MaxBatch: 8, MaxDelay: 200 * time.Microsecond})
	g := testGraph(8, 16, 7)
	if err := e.Load(testPackage(t, "m", "1", 8)); err != nil {
		t.Fatal(err)
	}
	m := e.cur.Load()
	_, s, _ := m.feats.take(&device{}) // the first rows start at row 1 of a slab: copied until a seal realigns
	m.feats.release(s, 1)
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, c.emit) }()
	const n = 400
	groups := [][]string{{"a", "b"}, {"c"}, {"d", "e", "f"}}
	observeAll(t, e, groups, n)
	want := 6 * (n - 9) // window 10, hop 1
	waitFor(t, "every window scored", func() bool { return c.count() == want })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkScores(t, c, g, want)
	if e.inPlace[1] == 0 || e.inPlace[0] == 0 {
		t.Errorf("groups in place %d, copied %d: want both paths exercised", e.inPlace[1], e.inPlace[0])
	}
	t.Logf("groups in place %d, copied %d", e.inPlace[1], e.inPlace[0])
	arenaIdle(t, m)
}

// TestDisorderedSlabs: rows offered while the queue is full are sent later,
// possibly after rows taken after them, so their slab is marked disordered
// and Run checks every row of it; scores still match, each window once.
func TestDisorderedSlabs(t *testing.T) {
	e := newTestEngine(t, EngineConfig{IncludeFeatures: true, MaxBatch: 16, QueueSize: 3})
	g := testGraph(8, 16, 7)
	if err := e.Load(testPackage(t, "m", "1", 8)); err != nil {
		t.Fatal(err)
	}
	m := e.cur.Load()
	const n = 60
	groups := [][]string{{"a"}, {"b"}, {"c"}, {"d"}}
	fed := make(chan struct{})
	go func() { observeAll(t, e, groups, n); close(fed) }()
	waitFor(t, "the queue to fill", func() bool { return len(e.rows) == cap(e.rows) })
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, c.emit) }()
	<-fed
	want := 4 * (n - 9)
	waitFor(t, "every window scored", func() bool { return c.count() == want })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkScores(t, c, g, want)
	if n := testutil.ToFloat64(e.met.queueWaits); n == 0 {
		t.Error("no row waited for the queue: the test did not exercise disordered slabs")
	}
	t.Logf("groups in place %d, copied %d", e.inPlace[1], e.inPlace[0])
	arenaIdle(t, m)
}

// slabRows takes n rows of m's arena for devices 0.. (slot i%3).
func slabRows(m *model, n int) []row {
	rows := make([]row, n)
	for i := range rows {
		rows[i].m = m
		rows[i].slot = int32(i % 3)
		rows[i].dev = &device{slot: int32(i % 3)}
		rows[i].feat, rows[i].slab, rows[i].idx = m.feats.take(rows[i].dev)
	}
	return rows
}

// TestStageGroups: stage finds each group's end and whether it can be read
// in place, by binary search when the batch starts a slab in order, by
// checking every row otherwise.
func TestStageGroups(t *testing.T) {
	e := &Engine{}
	newModel := func() *model { return &model{feats: newFeatArena(2, 8)} }
	cat := func(parts ...[]row) []row {
		var b []row
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	type group struct {
		end     int
		inPlace bool
	}
	check := func(name string, batch []row, want ...group) {
		t.Helper()
		e.spent = e.spent[:0]
		var got []group
		for start := 0; start < len(batch); {
			end, inPlace, slots, devs := e.stage(batch, start)
			if len(slots) != end-start || len(devs) != end-start {
				t.Errorf("%s: group [%d,%d) has %d slots, %d devices", name, start, end, len(slots), len(devs))
			}
			for i, s := range slots {
				if r := &batch[start+i]; s != r.slot || devs[i] != r.dev {
					t.Errorf("%s: row %d has slot %d device %p, want %d %p", name, start+i, s, devs[i], r.slot, r.dev)
				}
			}
			got = append(got, group{end, inPlace})
			start = end
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: groups %v, want %v", name, got, want)
		}
		n := 0
		for _, s := range e.spent {
			n += s.n
		}
		if n != len(batch) {
			t.Errorf("%s: %d rows to finish, want %d", name, n, len(batch))
		}
	}
	a := newModel()
	full := slabRows(a, 8)
	check("full slab", full, group{8, true})
	part := slabRows(a, 5)
	check("slab start, rest of batch", part[:3], group{3, true})
	if !part[0].slab.sealed.Load() {
		t.Error("a batch ending inside a slab did not seal it")
	}
	if r := slabRows(a, 1); r[0].slab == part[0].slab {
		t.Error("take after the seal used the sealed slab")
	}
	next := slabRows(a, 4)
	check("slab start then another slab", cat(part[3:], next), group{6, false})
	s1 := slabRows(newModel(), 4)
	check("one slab's rows out of order", cat(s1[:1], s1[2:3], s1[1:2], s1[3:]), group{4, false})
	b := newModel()
	s2 := slabRows(b, 3)
	s3 := slabRows(a, 3)
	check("two models", cat(s2, s3), group{3, true}, group{6, true})
	d := slabRows(newModel(), 6)
	d[0].slab.disordered.Store(true)
	check("disordered slab", d, group{6, true}) // every row checked, and in order after all
	check("own memory", []row{{m: a, dev: &device{}, feat: make([]float32, 2)}}, group{1, false})
}

// TestAlertsForMatchesReference: the scan that skips quiet rows gives the
// same events, the same non-finite count and the same final state as
// stepping every row, for random scores around both thresholds (with NaN
// and infinities), both output semantics, devices sharing a loud mask bit
// or a slot, and state carried over batches; and the loud set stays the
// devices with an alert raised or pending.
func TestAlertsForMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		sem string
		th  Thresholds
	}{
		{SemanticsFailureProbability, Thresholds{Raise: 0.7, Clear: 0.5}},
		{SemanticsFailureProbability, Thresholds{Raise: -0.5, Clear: -1}},  // no bit-range shortcut
		{SemanticsFailureProbability, Thresholds{Raise: 1e-40, Clear: -1}}, // rounds between float32s
		{SemanticsRUL, Thresholds{Raise: 30, Clear: 40}},
		{SemanticsRUL, Thresholds{Raise: 0, Clear: 5}},
		{SemanticsRUL, Thresholds{Raise: -3, Clear: 2}}, // no bit-range shortcut
		// Clear between float32s: float32(Clear) is under it (over it for
		// RUL), so a raised device's score at float32(Clear) starts a clear.
		{SemanticsFailureProbability, Thresholds{Raise: 0.9, Clear: 0.7}},
		{SemanticsRUL, Thresholds{Raise: 0.05, Clear: 0.1}},
	} {
		sem, th := tc.sem, tc.th
		e := newTestEngine(t, EngineConfig{MaxDevices: 300})
		m := &model{man: &Manifest{Name: "m", Version: "1", OutputSemantics: sem, Thresholds: th}}
		var devs []*device
		for i := range 140 { // slots 0..139: bits of the loud mask shared
			devs = append(devs, e.device(fmt.Sprint("d", i), 0))
		}
		ref := map[*device]alertState{}
		at := time.Unix(1_700_000_000, 0)
		for round := range 300 {
			if round%50 == 0 { // change the minimum duration now and then
				th.MinDuration = 0
				if round%100 == 0 {
					th.MinDuration = features.Duration(2 * time.Second)
				}
				m.man.Thresholds = th
				m.alert.built = false // a loaded model's manifest never changes: its alert plan is kept
			}
			n := 1 + rng.IntN(64)
			rows := make([]row, n)
			slots := make([]int32, n)
			rdevs := make([]*device, n)
			o := make([]float32, n)
			for i := range rows {
				d := devs[rng.IntN(8)]
				if rng.IntN(4) == 0 {
					d = devs[rng.IntN(len(devs))]
				}
				at = at.Add(time.Second)
				rows[i] = row{dev: d, slot: d.slot, end: at}
				slots[i], rdevs[i] = d.slot, d
				x := th.Raise + (rng.Float64()-0.5)*2*math.Abs(th.Clear-th.Raise)*1.5
				switch rng.IntN(6) {
				case 0, 1: // quiet
					x = th.Clear - (th.Raise-th.Clear)*3
				case 2: // at a threshold
					x = []float64{th.Raise, th.Clear, 0, math.Copysign(0, -1)}[rng.IntN(4)]
				}
				switch rng.IntN(60) {
				case 0:
					x = math.NaN()
				case 1:
					x = math.Inf(1)
				case 2:
					x = math.Inf(-1)
				}
				o[i] = float32(x)
			}
			// Reference: step every row with a finite output.
			var wantEvents []AlertEvent
			wantBad := 0
			rul := lowIsBad(sem)
			for i, r := range rows {
				if !finite(o[i : i+1]) {
					wantBad++
					continue
				}
				a := ref[r.dev]
				if state, threshold, flipped := a.step(&th, rul, float64(o[i]), r.end); flipped {
					wantEvents = append(wantEvents, AlertEvent{Device: r.dev.name, Model: "m", ModelVersion: "1",
						State: state, Score: float64(o[i]), Threshold: threshold, Time: r.end})
				}
				ref[r.dev] = a
			}
			b := &Batch{}
			bad := e.alertsFor(b, m, rows, slots, rdevs, o, 1)
			if bad != wantBad || fmt.Sprint(b.Alerts) != fmt.Sprint(wantEvents) {
				t.Fatalf("%s round %d: bad %d events %v, want %d %v", sem, round, bad, b.Alerts, wantBad, wantEvents)
			}
		}
		loudBy := make([]int32, len(e.loudBy))
		var mask uint64
		for _, d := range devs {
			if d.alert != ref[d] {
				t.Fatalf("%s: %s state %+v, want %+v", sem, d.name, d.alert, ref[d])
			}
			if loud := d.alert.raised || d.alert.pending; loud != (d.loudAt > 0) {
				t.Fatalf("%s: %s loud %v but in the loud set: %v", sem, d.name, loud, d.loudAt > 0)
			} else if loud {
				loudBy[d.slot]++
				mask |= 1 << (d.slot & 63)
			}
		}
		if fmt.Sprint(loudBy) != fmt.Sprint(e.loudBy) || mask != e.loudMask {
			t.Fatalf("%s: loud counts or mask out of step with the devices", sem)
		}
		if len(e.loud) == 0 {
			t.Fatalf("%s: no device ended loud: the test does not exercise the slow path", sem)
		}
	}
}

// TestLoudDevicePrunedAfterEviction: a device evicted with its alert raised
// leaves the loud set at the second prune after its eviction, so its slot
// does not keep rows of the next device there off the quiet path, and its
// alert state goes with it, so its rows still queued are screened against
// the state they are stepped with.
func TestLoudDevicePrunedAfterEviction(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	m := &model{man: &Manifest{Name: "m", Version: "1", OutputSemantics: SemanticsFailureProbability,
		Thresholds: Thresholds{Raise: 0.7, Clear: 0.5}}}
	d := e.device("hot", 0)
	b := &Batch{}
	e.alertsFor(b, m, []row{{dev: d, slot: d.slot, end: time.Unix(1, 0)}}, []int32{d.slot}, []*device{d}, []float32{0.9}, 1)
	if len(b.Alerts) != 1 || len(e.loud) != 1 || e.loudBy[d.slot] != 1 {
		t.Fatalf("alerts %v, loud %d: want the device raised and loud", b.Alerts, len(e.loud))
	}
	e.pruneLoud()
	if len(e.loud) != 1 {
		t.Fatal("a device still tracked was pruned")
	}
	e.devMu.Lock()
	e.evict(d, evictIdle)
	e.devMu.Unlock()
	e.pruneLoud()
	if len(e.loud) != 1 {
		t.Fatal("pruned at the first prune after eviction: its queued rows may still be scored")
	}
	e.pruneLoud()
	if len(e.loud) != 0 || e.loudBy[d.slot] != 0 || e.loudMask != 0 {
		t.Fatalf("loud %d, count %d, mask %x after the second prune: want none", len(e.loud), e.loudBy[d.slot], e.loudMask)
	}
	if d.alert != (alertState{}) {
		t.Fatalf("pruned device keeps its alert state %+v: a row of it still queued would be screened as quiet against it", d.alert)
	}
	// A row of it still queued is scored from the fresh state: a low score
	// changes nothing (the raised state was dropped with the eviction).
	b = &Batch{}
	e.alertsFor(b, m, []row{{dev: d, slot: d.slot, end: time.Unix(2, 0)}}, []int32{d.slot}, []*device{d}, []float32{0.1}, 1)
	if len(b.Alerts) != 0 || d.alert != (alertState{}) {
		t.Fatalf("events %v, state %+v after a quiet row: want none and a fresh state", b.Alerts, d.alert)
	}
	if n := e.device("new", 0); n.slot != d.slot {
		t.Fatalf("new device slot %d, want the evicted device's %d reused", n.slot, d.slot)
	}
}

// TestFloat32Thresholds: comparing float32 scores with roundUp32/roundDown32
// of a float64 threshold decides exactly as comparing in float64, and
// quietRange's bit range holds only finite scores on the quiet side of
// Raise, and every non-negative one there when Raise is positive (under
// it) or non-negative (over it, rul).
func TestFloat32Thresholds(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	f32 := func() float32 {
		switch rng.IntN(10) {
		case 0:
			return math.Float32frombits(rng.Uint32()) // any bit pattern, NaNs included
		case 1:
			return float32(math.Inf(1 - 2*rng.IntN(2)))
		case 2:
			return float32(math.Copysign(0, float64(1-2*rng.IntN(2))))
		}
		return float32((rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(10)-4)))
	}
	for range 200000 {
		v := f32()
		x := float64(f32())
		if rng.IntN(2) == 0 {
			x += (rng.Float64() - 0.5) * 1e-9 * x // between float32 values
		}
		if math.IsNaN(x) {
			continue
		}
		if !math.IsInf(x, 0) {
			if got, want := v < roundUp32(x), float64(v) < x; got != want {
				t.Fatalf("%v < roundUp32(%v) = %v, want %v", v, x, got, want)
			}
			if got, want := v > roundDown32(x), float64(v) > x; got != want {
				t.Fatalf("%v > roundDown32(%v) = %v, want %v", v, x, got, want)
			}
		}
		for _, rul := range []bool{false, true} {
			base, span := quietRange(x, rul)
			in := math.Float32bits(v)-base < span
			quiet := float64(v) < x
			if rul {
				quiet = float64(v) > x
			}
			quiet = quiet && !math.IsInf(float64(v), 0) && v == v
			if in && !quiet {
				t.Fatalf("rul %v raise %v: score %v (bits %x) in the quiet range, but not quiet", rul, x, v, math.Float32bits(v))
			}
			complete := (!rul && x > 0) || (rul && x >= 0 && !math.IsInf(x, 1))
			if complete && quiet && !math.Signbit(float64(v)) && !in {
				t.Fatalf("rul %v raise %v: quiet score %v not in the quiet range", rul, x, v)
			}
		}
	}
}

// TestFeatArenaReleaseRacesSeal: a release that brings a slab's rows to 0
// while it is the current slab, then loses the race for the lock to a seal
// (which recycles the slab) or to a take after it (which reuses it), leaves
// the slab listed once, or in use.
func TestFeatArenaReleaseRacesSeal(t *testing.T) {
	m := &model{feats: newFeatArena(2, 8)}
	a := &m.feats
	_, s, _ := a.take(&device{})
	s.refs.Add(-1) // release's unlocked half
	a.seal(s, 0)   // recycles s: no rows outstanding
	a.lastReleased(s)
	if len(a.free) != 1 {
		t.Fatalf("%d free slabs after a seal and a late release, want 1", len(a.free))
	}
	_, s2, _ := a.take(&device{}) // reuses s
	if s2 != s {
		t.Fatal("the free slab was not reused")
	}
	s2.refs.Add(-1)
	a.seal(s2, 0)
	_, s3, _ := a.take(&device{}) // reuses it again, before the release locks
	a.lastReleased(s2)
	if s3 != s || len(a.free) != 0 {
		t.Fatalf("slab in use recycled by a late release: %d free", len(a.free))
	}
	a.release(s3, 1)
	a.mu.Lock()
	a.sealLocked(a.cur)
	a.mu.Unlock()
	arenaIdle(t, m)
}

// TestFeatArenaConcurrentRelease: rows taken by several goroutines (with
// seals cutting slabs short) and released from others, singly and in runs,
// are never handed out twice while live, and every slab ends up recycled
// exactly once: the free list holds no slab twice and no slab with rows
// outstanding.
func TestFeatArenaConcurrentRelease(t *testing.T) {
	const f, slabRows, takers, perTaker = 2, 8, 4, 20000
	m := &model{feats: newFeatArena(f, slabRows)}
	a := &m.feats
	type taken struct {
		s   *featSlab
		v   []float32
		tag float32
	}
	ch := make(chan taken, 64)
	var takeWG, relWG sync.WaitGroup
	var errs sync.Map
	for g := range takers {
		takeWG.Add(1)
		go func() {
			defer takeWG.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range perTaker {
				v, s, _ := a.take(&device{})
				for j := range v {
					if v[j] != 0 {
						errs.Store("a vector was handed out while in use or not zeroed", true)
					}
				}
				tag := float32(g*perTaker + i + 1)
				v[0], v[1] = tag, tag
				if rng.IntN(5) == 0 {
					a.seal(s, 0)
				}
				ch <- taken{s, v, tag}
			}
		}()
	}
	for range 2 {
		relWG.Add(1)
		go func() {
			defer relWG.Done()
			for r := range ch {
				if r.v[0] != r.tag || r.v[1] != r.tag {
					errs.Store("a live vector was overwritten", true)
				}
				r.v[0], r.v[1] = 0, 0 // as take's clear would: a reuse then sees zeros
				a.release(r.s, 1)
			}
		}()
	}
	takeWG.Wait()
	close(ch)
	relWG.Wait()
	errs.Range(func(k, _ any) bool { t.Error(k); return true })
	a.mu.Lock()
	a.sealLocked(a.cur)
	a.mu.Unlock()
	arenaIdle(t, m)
}
