package devices

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

type evictLog struct {
	names   []string
	reasons []Reason
}

func (l *evictLog) onEvict(name string, v *int, why Reason) {
	l.names = append(l.names, name)
	l.reasons = append(l.reasons, why)
}

func names[V any](r *Registry[V]) []string {
	var out []string
	r.Each(func(name string, _ *V) bool { out = append(out, name); return true })
	return out
}

func TestEvictsLeastRecentlySeen(t *testing.T) {
	var log evictLog
	r := New(3, -1, log.onEvict)
	for i, n := range []string{"a", "b", "c"} {
		if v, created := r.Touch(n, at(i)); !created {
			t.Fatalf("%s not created", n)
		} else {
			*v = i
		}
	}
	if _, created := r.Touch("a", at(3)); created { // a is now the most recent; b the least
		t.Fatal("a created twice")
	}
	r.Touch("d", at(4))
	if !slices.Equal(log.names, []string{"b"}) || log.reasons[0] != ReasonMaxDevices {
		t.Fatalf("evicted %v %v, want [b] max_devices", log.names, log.reasons)
	}
	if got := names(r); !slices.Equal(got, []string{"d", "a", "c"}) {
		t.Fatalf("order %v", got)
	}
	if v := r.Get("a"); v == nil || *v != 0 {
		t.Fatalf("a's value %v", v)
	}
	if r.Get("b") != nil || r.Len() != 3 || r.Evicted(ReasonMaxDevices) != 1 || r.Evicted(ReasonIdle) != 0 {
		t.Fatalf("b %v len %d evicted %d/%d", r.Get("b"), r.Len(), r.Evicted(ReasonMaxDevices), r.Evicted(ReasonIdle))
	}
}

func TestEvictsIdle(t *testing.T) {
	var log evictLog
	r := New(10, 10*time.Second, log.onEvict)
	r.Touch("a", at(0))
	r.Touch("b", at(5))
	r.Touch("c", at(9))
	r.EvictIdle(at(12)) // a idle for 12s
	if !slices.Equal(log.names, []string{"a"}) || log.reasons[0] != ReasonIdle {
		t.Fatalf("evicted %v %v", log.names, log.reasons)
	}
	r.Touch("c", at(16)) // b idle for 11s: evicted by the Touch
	if !slices.Equal(log.names, []string{"a", "b"}) || r.Len() != 1 || r.Evicted(ReasonIdle) != 2 {
		t.Fatalf("evicted %v, len %d", log.names, r.Len())
	}
	never := New[int](10, -1, nil)
	never.Touch("a", at(0))
	never.EvictIdle(at(1 << 30))
	if never.Len() != 1 {
		t.Fatal("a negative TTL evicted")
	}
}

// TestClockStepBack: a Touch with an earlier time keeps the later one, so
// the device does not look idle sooner, and still counts as the most recent.
func TestClockStepBack(t *testing.T) {
	r := New[int](2, 10*time.Second, nil)
	r.Touch("a", at(100))
	r.Touch("b", at(101))
	r.Touch("a", at(50))
	r.EvictIdle(at(109))
	if got := names(r); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("devices %v", got)
	}
}

// TestBoundHeldUnderChurn: many more devices than the bound; the registry
// never holds more than the bound, keeps exactly the newest, and counts
// every eviction.
func TestBoundHeldUnderChurn(t *testing.T) {
	evicted := map[string]bool{}
	r := New(100, time.Hour, func(name string, _ *int, _ Reason) { evicted[name] = true })
	for i := range 1000 {
		r.Touch(strconv.Itoa(i), at(i))
		if r.Len() > 100 {
			t.Fatalf("%d devices held", r.Len())
		}
	}
	if len(evicted) != 900 || r.Evicted(ReasonMaxDevices) != 900 {
		t.Fatalf("%d evicted, counted %d", len(evicted), r.Evicted(ReasonMaxDevices))
	}
	for i := 900; i < 1000; i++ {
		if r.Get(strconv.Itoa(i)) == nil || evicted[strconv.Itoa(i)] {
			t.Fatalf("device %d not held", i)
		}
	}
}

func BenchmarkTouch(b *testing.B) {
	r := New[int](10_000, time.Hour, nil)
	names := make([]string, 20_000)
	for i := range names {
		names[i] = "dev-" + strconv.Itoa(i)
	}
	i := 0
	for b.Loop() {
		r.Touch(names[i%len(names)], at(i))
		i++
	}
}
