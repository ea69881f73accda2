package bridge

import (
	"math/rand/v2"
	"testing"
)

func TestSeqWindowInOrder(t *testing.T) {
	var w seqWindow
	for s := uint64(1); s <= 1000; s++ {
		w.set(s)
		if w.mark != s {
			t.Fatalf("after set(%d): mark %d", s, w.mark)
		}
	}
	if len(w.words) > 1 {
		t.Fatalf("window kept %d words", len(w.words))
	}
}

func TestSeqWindowRandomOrder(t *testing.T) {
	for _, start := range []uint64{0, 5, 63, 64, 1000} {
		w := seqWindow{mark: start}
		const n = 5000
		perm := rand.Perm(n)
		done := map[uint64]bool{}
		for _, p := range perm {
			s := start + 1 + uint64(p)
			w.set(s)
			done[s] = true
			want := start
			for done[want+1] {
				want++
			}
			if w.mark != want {
				t.Fatalf("start %d: mark %d, want %d", start, w.mark, want)
			}
			for q := want + 1; q < want+200 && q <= start+n; q++ {
				if w.has(q) != done[q] {
					t.Fatalf("has(%d)=%v want %v", q, w.has(q), done[q])
				}
			}
		}
		if w.mark != start+n || len(w.words) > 1 {
			t.Fatalf("end: mark %d words %d", w.mark, len(w.words))
		}
	}
}

func TestSeqWindowReset(t *testing.T) {
	var w seqWindow
	w.set(3)
	w.set(70)
	w.set(130)
	w.reset(2)
	if w.mark != 3 {
		t.Fatalf("mark %d, want 3", w.mark)
	}
	w.reset(69)
	if w.mark != 70 || !w.has(130) || w.has(129) {
		t.Fatalf("after reset(69): mark %d has130 %v", w.mark, w.has(130))
	}
	w.reset(200)
	if w.mark != 200 || w.has(201) {
		t.Fatalf("after reset(200): mark %d", w.mark)
	}
	w.set(201)
	if w.mark != 201 {
		t.Fatalf("mark %d", w.mark)
	}
}

func TestSeqWindowSetRange(t *testing.T) {
	var w seqWindow
	w.set(2)
	w.setRange(10, 500)
	for s := uint64(10); s <= 500; s++ {
		if !w.has(s) {
			t.Fatalf("has(%d) false", s)
		}
	}
	if w.has(9) || w.has(501) || w.mark != 0 {
		t.Fatalf("mark %d has9 %v has501 %v", w.mark, w.has(9), w.has(501))
	}
	w.setRange(1, 9)
	if w.mark != 500 {
		t.Fatalf("mark %d, want 500", w.mark)
	}
}
