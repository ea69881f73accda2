package bridge

import (
	"context"
	"maps"
	"time"
)

// Status is a snapshot of the uplink for health checks; the edge renders
// it into /api/status (which owns the JSON names).
type Status struct {
	State     string // connecting, online, offline
	Online    bool
	Since     time.Time // of the current state
	LastError string    // never contains credentials
	InFlight  int
	Backlog   Backlog
	Streams   []StreamStatus // in drain order
}

// Backlog sums what waits in the buffer over all streams.
type Backlog struct {
	Records   int64
	Bytes     int64
	OldestAge time.Duration
	// AckRate is records acknowledged per second over the last 10 s.
	AckRate float64
	// ETA is Records/AckRate, or -1 when nothing is being acknowledged.
	ETA time.Duration
	// Draining is true while a backlog phase (live-first) is active.
	Draining bool
	// RateLimit and ByteRateLimit are the backlog limits in force
	// (records/s, bytes/s; 0 = unlimited), see SetBacklogLimits.
	RateLimit     float64
	ByteRateLimit int64
}

// StreamStatus is one stream's counters since start and its buffer backlog.
type StreamStatus struct {
	Stream          string
	Topic           string
	Sent            uint64
	Acked           uint64
	Errors          uint64
	DroppedTooLarge uint64
	// Dropped counts records Kafka will never accept, by reason
	// (too_large, invalid_record, corrupt_message, invalid_timestamp).
	Dropped   map[string]uint64
	Isolating bool // resending a few at a time after a permanent error
	InFlight  int
	AckedSeq  uint64 // every seq <= this is acknowledged
	Records   int64  // waiting in the buffer
	Bytes     int64
	OldestAge time.Duration
	Draining  bool
	LastError string
	// Failing is set while Kafka does not take the stream's topic (missing,
	// not writable, or no answer while other streams are acknowledged):
	// its records wait in the buffer and are retried. FailingSince is when
	// it started, FailingError why (it names the topic).
	Failing      bool
	FailingSince *time.Time
	FailingError string
}

// Conditions lists what keeps the uplink from delivering every stream, one
// line per failing stream, naming its topic (the edge's /readyz reports
// them). The link being offline is not one: the buffer holds the data.
func (st Status) Conditions() []string {
	var c []string
	for _, s := range st.Streams {
		if s.Failing {
			c = append(c, "uplink: stream "+s.Stream+" is not delivered to kafka topic "+s.Topic+": "+s.FailingError)
		}
	}
	return c
}

// backlogAgg is the last buffer statistics, refreshed by statusLoop.
type backlogAgg struct {
	at      time.Time
	streams map[string]StreamStatus // Records, Bytes, OldestAge only
}

// Status returns a snapshot. Safe for concurrent use; does not block on
// Kafka or the disk.
func (p *Producer) Status() Status {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Status{
		State:     p.link.state,
		Online:    p.link.state == StateOnline,
		Since:     p.link.since,
		LastError: p.link.lastErr,
		InFlight:  p.inflight,
	}
	for _, s := range p.streams {
		b := p.bstat.streams[s.name]
		ss := StreamStatus{
			Stream: s.name, Topic: s.topic, Sent: s.sent, Acked: s.acked, Errors: s.errs,
			DroppedTooLarge: s.droppedTooLarge, InFlight: s.inflight, AckedSeq: s.win.mark,
			Records: b.Records, Bytes: b.Bytes, OldestAge: b.OldestAge, Draining: s.draining,
			LastError: s.lastErr, Dropped: maps.Clone(s.dropped), Isolating: s.iso.active,
		}
		if h := s.health; h.failing {
			since := h.since
			ss.Failing, ss.FailingSince, ss.FailingError = true, &since, h.err
			if ss.LastError == "" {
				ss.LastError = h.err
			}
		}
		st.Streams = append(st.Streams, ss)
		st.Backlog.Records += ss.Records
		st.Backlog.Bytes += ss.Bytes
		st.Backlog.OldestAge = max(st.Backlog.OldestAge, ss.OldestAge)
		st.Backlog.Draining = st.Backlog.Draining || ss.Draining
	}
	rl, brl := p.limiter.limits()
	st.Backlog.RateLimit, st.Backlog.ByteRateLimit = rl, int64(brl)
	st.Backlog.AckRate = p.rate.rate(now)
	st.Backlog.ETA = eta(st.Backlog.Records, st.Backlog.AckRate)
	return st
}

func eta(records int64, rate float64) time.Duration {
	if records == 0 {
		return 0
	}
	if rate <= 0 {
		return -1
	}
	return time.Duration(float64(records) / rate * float64(time.Second))
}

// statusLoop refreshes buffer statistics and the backlog gauges every second.
func (p *Producer) statusLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	p.refreshStats()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.refreshStats()
		}
	}
}

func (p *Producer) refreshStats() {
	bs := p.q.Stats()
	now := time.Now() // after Stats: a record appended meanwhile is not younger than now
	agg := backlogAgg{at: now, streams: map[string]StreamStatus{}}
	for name, ss := range bs.Streams {
		var age time.Duration
		if !ss.OldestTime.IsZero() && ss.Records > 0 {
			age = max(0, now.Sub(ss.OldestTime)) // never negative, whatever the clock did
		}
		agg.streams[name] = StreamStatus{Records: int64(ss.Records), Bytes: int64(ss.Bytes), OldestAge: age}
	}
	p.mu.Lock()
	p.bstat = agg
	p.mu.Unlock()
	p.m.setBacklog(p.Status())
}

// ackRate counts acknowledgements in one-second buckets over ~10 s.
type ackRate struct {
	buckets [12]struct{ sec, n int64 }
}

func (a *ackRate) add(now time.Time, n int64) {
	sec := now.Unix()
	b := &a.buckets[sec%int64(len(a.buckets))]
	if b.sec != sec {
		b.sec, b.n = sec, 0
	}
	b.n += n
}

func (a *ackRate) rate(now time.Time) float64 {
	sec := now.Unix()
	var sum int64
	for _, b := range a.buckets {
		if b.sec > sec-10 && b.sec < sec {
			sum += b.n
		}
	}
	return float64(sum) / 9
}
