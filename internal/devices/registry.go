package devices

import (
	"sync/atomic"
	"time"
)

// Reason says why a device was evicted (the label of the eviction counter).
type Reason string

// Eviction reasons.
const (
	ReasonMaxDevices Reason = "max_devices" // a new device at the bound
	ReasonIdle       Reason = "idle"        // not seen for the idle TTL
)

// Reasons lists every Reason, for callers that pre-create metric labels.
var Reasons = []Reason{ReasonMaxDevices, ReasonIdle}

// Registry holds up to Max devices, each with a V, in least-recently-seen
// order (see the package documentation). The zero value is not usable;
// create one with New.
type Registry[V any] struct {
	max     int
	ttl     time.Duration
	onEvict func(name string, v *V, why Reason)
	byName  map[string]*entry[V]
	ring    entry[V] // sentinel: ring.next is the most recent, ring.prev the least
	n       atomic.Int64
	evicted [2]atomic.Uint64 // by reason, in the order of Reasons
}

// entry is one device: its name, when it was last touched, its place in
// the recency ring and its value, in one allocation.
type entry[V any] struct {
	name       string
	seen       int64 // UnixNano of the last Touch
	prev, next *entry[V]
	v          V
}

// New returns a registry of at most bound devices (bound >= 1) that evicts
// devices idle for idleTTL (< 0: never) and calls onEvict (may be nil) for
// every device it evicts.
func New[V any](bound int, idleTTL time.Duration, onEvict func(name string, v *V, why Reason)) *Registry[V] {
	r := &Registry[V]{max: max(bound, 1), ttl: idleTTL, onEvict: onEvict, byName: make(map[string]*entry[V])}
	r.ring.prev, r.ring.next = &r.ring, &r.ring
	return r
}

// Touch records that name was seen at now and returns its value, adding
// the device (zero V) if it is new. It first evicts devices idle at now,
// then, for a new device at the bound, the least recently seen one.
// created reports that the device was added.
func (r *Registry[V]) Touch(name string, now time.Time) (v *V, created bool) {
	ns := now.UnixNano()
	r.evictIdle(ns)
	e := r.byName[name]
	if e == nil {
		for len(r.byName) >= r.max {
			r.evict(r.ring.prev, ReasonMaxDevices)
		}
		e = &entry[V]{name: name}
		r.byName[name] = e
		r.n.Store(int64(len(r.byName)))
		created = true
	} else {
		e.unlink()
	}
	e.seen = max(e.seen, ns) // a clock stepping back does not make a device older
	r.pushFront(e)
	return &e.v, created
}

// Get returns name's value without touching it, or nil.
func (r *Registry[V]) Get(name string) *V {
	if e := r.byName[name]; e != nil {
		return &e.v
	}
	return nil
}

// EvictIdle evicts the devices not touched since now minus the idle TTL.
func (r *Registry[V]) EvictIdle(now time.Time) { r.evictIdle(now.UnixNano()) }

func (r *Registry[V]) evictIdle(now int64) {
	if r.ttl < 0 {
		return
	}
	cutoff := now - int64(r.ttl)
	for e := r.ring.prev; e != &r.ring && e.seen < cutoff; e = r.ring.prev {
		r.evict(e, ReasonIdle)
	}
}

// Each calls f for every device, most recently seen first, until f
// returns false. f must not call the registry.
func (r *Registry[V]) Each(f func(name string, v *V) bool) {
	for e := r.ring.next; e != &r.ring; e = e.next {
		if !f(e.name, &e.v) {
			return
		}
	}
}

// Len returns the number of devices held. Safe for concurrent use.
func (r *Registry[V]) Len() int { return int(r.n.Load()) }

// Evicted returns how many devices were evicted for why. Safe for
// concurrent use.
func (r *Registry[V]) Evicted(why Reason) uint64 {
	if why == ReasonIdle {
		return r.evicted[1].Load()
	}
	return r.evicted[0].Load()
}

func (r *Registry[V]) evict(e *entry[V], why Reason) {
	e.unlink()
	delete(r.byName, e.name)
	r.n.Store(int64(len(r.byName)))
	if why == ReasonIdle {
		r.evicted[1].Add(1)
	} else {
		r.evicted[0].Add(1)
	}
	if r.onEvict != nil {
		r.onEvict(e.name, &e.v, why)
	}
}

func (r *Registry[V]) pushFront(e *entry[V]) {
	e.prev, e.next = &r.ring, r.ring.next
	r.ring.next.prev = e
	r.ring.next = e
}

func (e *entry[V]) unlink() {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}
