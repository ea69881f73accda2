package bridge

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
)

// Link states reported in Status.State.
const (
	StateConnecting = "connecting" // not yet reached Kafka since start
	StateOnline     = "online"
	StateOffline    = "offline"
)

// linkState is the online/offline view of the uplink, guarded by Producer.mu.
type linkState struct {
	state        string
	since        time.Time
	epoch        uint64 // incremented on every transition to online
	lastErr      string
	lastProgress time.Time // last acknowledgement, or when records went in flight while none were
}

// noteDispatch is called after records were handed to kgo; wasIdle says
// none were in flight before.
func (l *linkState) noteDispatch(now time.Time, wasIdle bool) {
	if wasIdle {
		l.lastProgress = now
	}
}

func (l *linkState) noteAck(now time.Time) { l.lastProgress = now }

// stalledLocked reports the link stalled: nothing acknowledged on any
// stream for d, while a stream that is not failing has had records in
// flight, unacknowledged, for d. A failing stream (its topic missing or
// not writable) never makes the link look offline, and neither does a
// stream that gets no answer while the others are acknowledged. Call with
// mu held.
func (p *Producer) stalledLocked(now time.Time, d time.Duration) bool {
	if p.inflight == 0 || now.Sub(p.link.lastProgress) <= d {
		return false
	}
	for _, s := range p.streams {
		if s.inflight > 0 && !s.health.failing && now.Sub(s.progress) > d {
			return true
		}
	}
	return false
}

// linkEpoch returns the online epoch and whether the link is online.
func (p *Producer) linkEpoch() (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.link.epoch, p.link.state == StateOnline
}

// probeSoon asks the monitor to probe now (an acknowledgement arrived while
// offline). Never blocks; safe under p.mu.
func (p *Producer) probeSoon() {
	select {
	case p.probe <- struct{}{}:
	default:
	}
}

// monitor probes the cluster: every PingInterval while online, with
// exponential backoff and full jitter while offline. A failed probe or a
// stall (records in flight, nothing acknowledged for OfflineAfter) takes the
// link offline; a successful probe brings it back. Transitions are logged,
// counted and appended to the events stream.
func (p *Producer) monitor(ctx context.Context) {
	fails, setupTries := 0, 0
	setupDone := false
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, min(5*time.Second, p.cfg.Link.OfflineAfter))
		err := p.client.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		p.mu.Lock()
		stalled := p.stalledLocked(now, p.cfg.Link.OfflineAfter)
		if err == nil && !stalled {
			p.failSilentLocked(now, p.cfg.Link.OfflineAfter)
		}
		p.mu.Unlock()
		var wait time.Duration
		switch {
		case err != nil:
			fails++
			p.setLink(StateOffline, "kafka unreachable: "+err.Error())
			wait = backoff(fails, p.cfg.Link.RetryBackoffMin, p.cfg.Link.RetryBackoffMax)
		case stalled:
			fails++
			p.setLink(StateOffline, "no acknowledgement for "+p.cfg.Link.OfflineAfter.String())
			wait = backoff(fails, p.cfg.Link.RetryBackoffMin, p.cfg.Link.RetryBackoffMax)
		default:
			fails = 0
			if !setupDone {
				setupTries++
				setupDone = p.setupTopics(ctx) || setupTries >= 3 // warned; not worth retrying forever
			}
			p.recheckTopics(ctx)
			p.setLink(StateOnline, "")
			wait = p.cfg.Link.PingInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-p.probe:
			t.Stop()
		}
	}
}

// setLink records a transition (or refreshes the error while offline).
func (p *Producer) setLink(state, why string) {
	now := time.Now()
	p.mu.Lock()
	prev := p.link.state
	if why != "" {
		p.link.lastErr = why
	}
	if prev == state {
		p.mu.Unlock()
		return
	}
	offFor := now.Sub(p.link.since)
	p.link.state, p.link.since = state, now
	if state == StateOnline {
		p.link.epoch++
		p.link.lastProgress = now
	}
	p.mu.Unlock()

	p.m.setOnline(state == StateOnline)
	switch state {
	case StateOnline:
		p.log.Info("kafka online", "after", offFor.Round(time.Millisecond), "previous", prev)
		p.event(wire.EventUplinkOnline, map[string]any{"previous": prev, "offline_seconds": offFor.Seconds()})
		p.poke()
	case StateOffline:
		p.log.Warn("kafka offline", "reason", why)
		p.event(wire.EventUplinkOffline, map[string]any{"previous": prev, "reason": why})
	}
}

// backoff returns a full-jitter exponential delay for the n-th attempt
// (n >= 1): uniform in [lo, min(hi, lo*2^(n-1))].
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if d <= lo {
		return lo
	}
	return lo + rand.N(d-lo)
}
