package bridge

import "time"

// backlogPhase is a stream's state while a backlog drains beside live data.
//
// The rule (docs/formats/kafka-records.md, "Backlog"): records with
// seq <= boundary are the backlog. A device that has any unacknowledged
// backlog record is gated: all of its records, old and new, go out on the
// main (backlog) path in sequence order, under the rate limit, with the
// edgepm-backlog header. Every other device's new records go out on the live
// path at once. So one device's records are never reordered, and live data
// of devices without backlog never waits for the backlog. The phase ends when
// the main cursor catches up with the live cursor.
type backlogPhase struct {
	boundary uint64 // last backlog seq
	liveNext uint64 // live cursor: every seq in (boundary, liveNext] was handled by the live path or left to the main path
	scanNext uint64 // gating scan progress; the live path waits until scanned
	scanned  bool
	gated    map[string]struct{} // devices with backlog
	started  time.Time
}

func (ph *backlogPhase) isGated(key []byte) bool {
	_, ok := ph.gated[string(key)]
	return ok
}

// beginBacklog starts a backlog phase on every stream that has more than a
// couple of read batches not yet sent, e.g. when the link comes back.
func (p *Producer) beginBacklog() {
	st := p.q.Stats()
	for _, s := range p.streams {
		ss, ok := st.Streams[s.name]
		if !ok {
			continue
		}
		p.startPhase(s, ss.LastSeq, s.next)
	}
}

// startPhase makes (from, boundary] the backlog of s and the main cursor
// from. Small backlogs (a couple of read batches) are simply drained.
func (p *Producer) startPhase(s *stream, boundary, from uint64) {
	s.next = from
	if boundary <= from+uint64(2*p.cfg.ReadBatch) {
		p.setPhase(s, nil)
		return
	}
	p.setPhase(s, &backlogPhase{
		boundary: boundary,
		liveNext: boundary,
		scanNext: from,
		gated:    map[string]struct{}{},
		started:  time.Now(),
	})
	p.log.Info("backlog drain started", "stream", s.name, "from_seq", from+1, "to_seq", boundary)
}

func (p *Producer) endPhase(s *stream) {
	if s.phase == nil {
		return
	}
	p.log.Info("backlog drained", "stream", s.name, "to_seq", s.phase.boundary,
		"took", time.Since(s.phase.started).Round(time.Millisecond))
	p.setPhase(s, nil)
}

func (p *Producer) setPhase(s *stream, ph *backlogPhase) {
	s.phase = ph
	p.mu.Lock()
	s.draining = ph != nil
	p.mu.Unlock()
}

// scanStep reads the next part of the backlog to find the devices that have
// backlog. It reports whether it did work (false once the scan is done).
func (p *Producer) scanStep(s *stream) bool {
	ph := s.phase
	if ph.scanned {
		return false
	}
	n := 4 * p.cfg.ReadBatch
	recs, err := p.q.Read(s.name, ph.scanNext, n)
	if err != nil {
		p.readFailed(s, err)
		return false
	}
	p.mu.Lock()
	for i := range recs {
		r := &recs[i]
		if r.Seq > ph.boundary {
			ph.scanned = true
			break
		}
		ph.scanNext = r.Seq
		if !s.win.has(r.Seq) && !ph.isGated(r.Key) {
			ph.gated[string(r.Key)] = struct{}{}
		}
	}
	p.mu.Unlock()
	if len(recs) < n || ph.scanNext >= ph.boundary {
		ph.scanned = true
	}
	if ph.scanned {
		p.log.Info("backlog scanned", "stream", s.name, "devices_with_backlog", len(ph.gated))
	}
	return true
}
