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

	"github.com/edgepm/edgepm/internal/onnxgen"
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
		if w := float64(evalRef(g, p.Features)); math.Abs(p.Score-w) > 1e-5 || p.FeatureHash != featureHash(p.Features, nil) {
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
	_, s, _ := m.feats.take() // the first rows start at row 1 of a slab: copied until a seal realigns
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
	if e.fast.groups[1] == 0 || e.fast.groups[0] == 0 {
		t.Errorf("groups in place %d, copied %d: want both paths exercised", e.fast.groups[1], e.fast.groups[0])
	}
	t.Logf("groups in place %d, copied %d", e.fast.groups[1], e.fast.groups[0])
	arenaIdle(t, m)
}

// TestDisorderedSlabs: rows offered while the queue is full are sent later,
// possibly after rows taken after them, so a batch may hold a slab's rows
// out of order; the fast path then copies them. Scores still match, each
// window once.
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
		t.Error("no row waited for the queue: the test did not exercise rows queued out of slab order")
	}
	t.Logf("groups in place %d, copied %d", e.fast.groups[1], e.fast.groups[0])
	arenaIdle(t, m)
}

// slabRows takes n rows of m's arena.
func slabRows(m *model, n int) []row {
	rows := make([]row, n)
	for i := range rows {
		rows[i].m = m
		rows[i].dev = &device{}
		rows[i].feat, rows[i].slab, rows[i].idx = m.feats.take()
	}
	return rows
}

// TestGroupsInPlace: Engine.group ends a group where the model changes and
// records every row to finish; the fast path reads a group in place exactly
// when it is rows 0, 1, ... of one slab, and seals the slab a group ends in
// so that the next take starts a fresh slab.
func TestGroupsInPlace(t *testing.T) {
	e := newTestEngine(t, EngineConfig{MaxBatch: 8})
	if err := e.Load(testPackage(t, "m", "1", 2)); err != nil {
		t.Fatal(err)
	}
	a := e.cur.Load()
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
			end := e.group(batch, start)
			got = append(got, group{end, slabPrefix(batch[start:end], batch[start].slab)})
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
		e.spent = e.spent[:0]
	}
	check("full slab", slabRows(a, 8), group{8, true})
	part := slabRows(a, 5)
	check("slab start, rest of batch", part[:3], group{3, true})
	if _, _, ok := e.fast.input(a, part[:3]); ok {
		t.Error("read in place although rows past the group were taken from its slab")
	}
	if !part[0].slab.sealed.Load() {
		t.Error("a batch ending inside a slab did not seal it")
	}
	if r := slabRows(a, 1); r[0].slab == part[0].slab {
		t.Error("take after the seal used the sealed slab")
	} else {
		a.feats.seal(r[0].slab, 1)
	}
	fresh := slabRows(a, 3)
	if _, _, ok := e.fast.input(a, fresh); !ok {
		t.Error("a slab's first rows, none taken past them, not read in place")
	}
	next := slabRows(a, 4)
	check("slab start then another slab", cat(part[3:], next), group{6, false})
	s1 := slabRows(newModel(), 4)
	check("one slab's rows out of order", cat(s1[:1], s1[2:3], s1[1:2], s1[3:]), group{4, false})
	b := newModel()
	s2 := slabRows(b, 3)
	s3 := slabRows(newModel(), 3)
	check("two models", cat(s2, s3), group{3, true}, group{6, true})
	check("own memory", []row{{m: a, dev: &device{}, feat: make([]float32, 2)}}, group{1, false})
}

// TestFeatArenaReleaseRacesSeal: a release that brings a slab's rows to 0
// while it is the current slab, then loses the race for the lock to a seal
// (which recycles the slab) or to a take after it (which reuses it), leaves
// the slab listed once, or in use.
func TestFeatArenaReleaseRacesSeal(t *testing.T) {
	m := &model{feats: newFeatArena(2, 8)}
	a := &m.feats
	_, s, _ := a.take()
	s.refs.Add(-1) // release's unlocked half
	a.seal(s, 0)   // recycles s: no rows outstanding
	a.lastReleased(s)
	if len(a.free) != 1 {
		t.Fatalf("%d free slabs after a seal and a late release, want 1", len(a.free))
	}
	_, s2, _ := a.take() // reuses s
	if s2 != s {
		t.Fatal("the free slab was not reused")
	}
	s2.refs.Add(-1)
	a.seal(s2, 0)
	_, s3, _ := a.take() // reuses it again, before the release locks
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
				v, s, _ := a.take()
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
