package bridge

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

var backlogHdr = []byte(wire.BacklogValue)

// pump is the one goroutine that reads the buffer and hands records to kgo,
// in sequence order per stream, until ctx ends. It dispatches only while
// the link is online and while in-flight slots are free.
func (p *Producer) pump(ctx, prodCtx context.Context) {
	tick := time.NewTicker(p.cfg.PollInterval)
	defer tick.Stop()
	var epoch uint64
	for ctx.Err() == nil {
		p.flushDrops(time.Now(), false)
		p.flushHealth(time.Now())
		if ep, ok := p.linkEpoch(); ok {
			if ep != epoch {
				// Just (re)connected: what is buffered now is backlog.
				epoch = ep
				p.beginBacklog()
			}
			if p.pumpOnce(prodCtx) {
				continue
			}
		}
		select {
		case <-ctx.Done():
		case <-p.wake:
		case <-tick.C:
		}
	}
}

// pumpOnce gives in-flight slots to the first stream, in priority order,
// that has something to send: live records of every stream before any
// backlog. It reports whether anything was dispatched or scanned.
func (p *Producer) pumpOnce(ctx context.Context) bool {
	now := p.now()
	for _, s := range p.streams {
		if p.prepare(s, now) && s.phase != nil && p.pumpLive(ctx, s) {
			return true
		}
	}
	for _, s := range p.streams {
		if p.prepare(s, now) && p.pumpMain(ctx, s, now) {
			return true
		}
	}
	return false
}

// prepare rewinds a stream after a failure once its in-flight records are
// settled, and reports whether the stream may dispatch now.
func (p *Producer) prepare(s *stream, now time.Time) bool {
	p.mu.Lock()
	failed, inflight, mark, fast := s.failed, s.inflight, s.win.mark, s.iso.fast
	if failed && inflight == 0 {
		s.failed, s.iso.fast = false, false
	}
	p.mu.Unlock()
	switch {
	case failed && inflight > 0:
		return false // wait for the rest of the stream's records to settle
	case failed:
		p.rewind(s, mark, now, fast)
	}
	return !now.Before(s.retryAt)
}

// rewind sends everything not acknowledged again, from the watermark, after
// a jittered backoff (none when the failure was a permanent one being
// isolated: Kafka answered, there is nothing to wait for). Acknowledged
// records above the watermark are skipped.
func (p *Producer) rewind(s *stream, mark uint64, now time.Time, fast bool) {
	p.mu.Lock()
	if !fast {
		s.attempts++
	}
	attempts, iso, failing := s.attempts, s.iso, s.health.failing
	s.sendCtx, s.cancelSend = nil, nil // a new generation of sends
	s.halted.Store(false)
	p.mu.Unlock()
	s.retryAt = now
	if !fast {
		s.retryAt = now.Add(backoff(attempts, p.cfg.Link.RetryBackoffMin, p.cfg.Link.RetryBackoffMax))
	}
	if s.phase != nil {
		// Live records of a device may have failed with its backlog; restart
		// the phase so the device is gated again and order is kept.
		p.startPhase(s, max(s.phase.liveNext, s.next), mark)
	} else {
		s.next = mark
	}
	if iso.active {
		p.log.Warn("kafka refused a batch for good: resending a few records at a time to find the record it refuses",
			"stream", s.name, "from_seq", mark+1, "in_flight", iso.k, "up_to_seq", iso.upTo)
		return
	}
	lv := slog.LevelWarn
	if failing {
		lv = slog.LevelDebug // flushHealth reports a failing stream, rate-limited
	}
	p.log.Log(context.Background(), lv, "resending unacknowledged records", "stream", s.name, "from_seq", mark+1, "attempt", attempts)
}

// slots is how many more records of s may be handed to kgo now.
func (p *Producer) slots(s *stream) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := min(p.cfg.MaxInFlight-p.inflight, p.cfg.ReadBatch, p.streamCapLocked(s)-s.inflight)
	if s.iso.active {
		n = min(n, s.iso.k-s.inflight)
	}
	return n
}

// pumpMain dispatches from the main cursor: everything when there is no
// backlog phase, else the backlog and gated devices' records under the rate
// limit. It reports whether it did any work.
func (p *Producer) pumpMain(ctx context.Context, s *stream, now time.Time) bool {
	n := p.slots(s)
	if n <= 0 {
		return false
	}
	ph := s.phase
	if ph != nil {
		if p.scanStep(s) {
			return true
		}
		n = min(n, p.limiter.records(now))
		if n <= 0 {
			return false
		}
	}
	recs, err := p.q.Read(s.name, s.next, n)
	if err != nil {
		p.readFailed(s, err)
		return false
	}
	from := s.next
	caughtUp := len(recs) < n
	if ph != nil && len(recs) > 0 && recs[len(recs)-1].Seq > ph.liveNext {
		caughtUp = true // reached the live cursor
		i := sortSearch(recs, ph.liveNext)
		recs = recs[:i]
	}
	var skip func(r *buffer.Record) bool
	if ph != nil {
		skip = func(r *buffer.Record) bool { return r.Seq > ph.boundary && !ph.isGated(r.Key) }
	}
	batch, seqs, bytes := p.select_(s, recs, &s.next, skip, ph != nil)
	p.dispatch(ctx, s, batch, seqs)
	if ph != nil {
		p.limiter.take(len(batch), bytes, now)
		if caughtUp {
			// Nothing unhandled is left at or below the live cursor.
			s.next = max(s.next, ph.liveNext)
			p.endPhase(s)
			return true
		}
	}
	return s.next != from
}

// pumpLive dispatches, during a backlog phase, the records of devices that
// have no backlog, ahead of the backlog and without a rate limit.
func (p *Producer) pumpLive(ctx context.Context, s *stream) bool {
	ph := s.phase
	if !ph.scanned {
		return false
	}
	n := p.slots(s)
	if n <= 0 {
		return false
	}
	recs, err := p.q.Read(s.name, ph.liveNext, n)
	if err != nil {
		p.readFailed(s, err)
		return false
	}
	from := ph.liveNext
	skip := func(r *buffer.Record) bool { return ph.isGated(r.Key) }
	batch, seqs, _ := p.select_(s, recs, &ph.liveNext, skip, false)
	p.dispatch(ctx, s, batch, seqs)
	return ph.liveNext != from
}

// sortSearch returns the number of recs with Seq <= seq (recs in Seq order).
func sortSearch(recs []buffer.Record, seq uint64) int {
	i := 0
	for i < len(recs) && recs[i].Seq <= seq {
		i++
	}
	return i
}

// select_ walks recs (read after *cursor), advancing *cursor, and returns
// the Kafka records to send: not yet acknowledged, not skipped, not too
// large. Sequence gaps (records the buffer dropped or found corrupt) are
// marked done so the watermark can pass them.
func (p *Producer) select_(s *stream, recs []buffer.Record, cursor *uint64, skip func(*buffer.Record) bool,
	backlog bool) (batch []*kgo.Record, seqs []uint64, bytes int) {
	batch = make([]*kgo.Record, 0, len(recs))
	seqs = make([]uint64, 0, len(recs))
	sl := newRecordSlab(recs)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		if r.Seq > *cursor+1 {
			s.win.setRange(*cursor+1, r.Seq-1)
		}
		*cursor = r.Seq
		if s.win.has(r.Seq) || (skip != nil && skip(r)) || p.tooLargeLocked(s, r) {
			continue
		}
		batch = append(batch, p.kafkaRecord(s, r, backlog, sl))
		seqs = append(seqs, r.Seq)
		bytes += len(r.Key) + len(r.Value)
	}
	return batch, seqs, bytes
}

// tooLargeLocked drops a record that can never fit a produce batch: it is
// counted, reported (flushDrops) and marked done so it does not block its
// stream forever.
func (p *Producer) tooLargeLocked(s *stream, r *buffer.Record) bool {
	size := len(r.Key) + len(r.Value) + 128
	for _, h := range r.Headers {
		size += len(h.Key) + len(h.Value) + 8
	}
	if size <= p.cfg.BatchMaxBytes-256 {
		return false
	}
	p.dropLocked(s, r.Seq, size, DropTooLarge, "record larger than kafka.batch_max_bytes")
	return true
}

func (p *Producer) readFailed(s *stream, err error) {
	p.mu.Lock()
	s.lastErr = "read buffer: " + err.Error()
	p.mu.Unlock()
	s.retryAt = p.now().Add(time.Second)
	p.log.Error("read buffer", "stream", s.name, "err", err)
}

// kafkaRecord builds the Kafka record of a buffered one: key, value, time,
// the record's own headers, then gateway, stream, seq (and backlog).
func (p *Producer) kafkaRecord(s *stream, r *buffer.Record, backlog bool, sl *recordSlab) *kgo.Record {
	hs := sl.headers(len(r.Headers) + 4)
	for _, h := range r.Headers {
		hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	hs = append(hs,
		kgo.RecordHeader{Key: wire.HeaderGateway, Value: p.gwHdr},
		kgo.RecordHeader{Key: wire.HeaderStream, Value: s.nameHdr},
		kgo.RecordHeader{Key: wire.HeaderSeq, Value: sl.seq(r.Seq)},
	)
	if backlog {
		hs = append(hs, kgo.RecordHeader{Key: wire.HeaderBacklog, Value: backlogHdr})
	}
	kr := sl.record()
	*kr = kgo.Record{Topic: s.topic, Key: r.Key, Value: r.Value, Timestamp: r.Time, Headers: hs}
	return kr
}

// recordSlab backs the Kafka records built from one read of the buffer:
// the records, their header slices and the seq header digits come from
// three allocations instead of three per record. kgo keeps the records
// until their promises; nothing is reused. Sized for the read, so the
// slices never grow (pointers into them stay valid). Nil builds each
// record from its own allocations.
type recordSlab struct {
	recs []kgo.Record
	hdrs []kgo.RecordHeader
	seqs []byte
}

func newRecordSlab(recs []buffer.Record) *recordSlab {
	nh := 0
	for i := range recs {
		nh += len(recs[i].Headers) + 4
	}
	return &recordSlab{recs: make([]kgo.Record, 0, len(recs)), hdrs: make([]kgo.RecordHeader, 0, nh),
		seqs: make([]byte, 0, 20*len(recs))}
}

func (sl *recordSlab) record() *kgo.Record {
	if sl == nil || len(sl.recs) == cap(sl.recs) {
		return new(kgo.Record)
	}
	sl.recs = sl.recs[:len(sl.recs)+1]
	return &sl.recs[len(sl.recs)-1]
}

// headers returns an empty header slice with capacity n.
func (sl *recordSlab) headers(n int) []kgo.RecordHeader {
	if sl == nil || cap(sl.hdrs)-len(sl.hdrs) < n {
		return make([]kgo.RecordHeader, 0, n)
	}
	at := len(sl.hdrs)
	sl.hdrs = sl.hdrs[:at+n]
	return sl.hdrs[at : at : at+n]
}

// seq returns the decimal digits of seq.
func (sl *recordSlab) seq(seq uint64) []byte {
	if sl == nil || cap(sl.seqs)-len(sl.seqs) < 20 {
		return strconv.AppendUint(nil, seq, 10)
	}
	at := len(sl.seqs)
	sl.seqs = strconv.AppendUint(sl.seqs, seq, 10)
	return sl.seqs[at:len(sl.seqs):len(sl.seqs)]
}

// dispatch hands records to kgo. Promises complete on kgo's goroutines.
//
// When a produce of the stream fails, kgo fails every record buffered for
// that partition and starts the partition afresh (new epoch, sequence 0),
// so a record produced after that moment could be appended before the
// failed ones are sent again, breaking per-device order. So the first
// failure halts the stream: dispatch stops at once (the rest are sent again
// by the rewind), and the generation's context is canceled, which fails a
// batch not yet written to the broker.
func (p *Producer) dispatch(ctx context.Context, s *stream, batch []*kgo.Record, seqs []uint64) {
	if len(batch) == 0 {
		return
	}
	now := time.Now()
	p.mu.Lock()
	wasIdle := p.inflight == 0
	if s.inflight == 0 {
		s.progress = now
	}
	p.inflight += len(batch)
	s.inflight += len(batch)
	p.link.noteDispatch(now, wasIdle)
	tag := s.iso.tag()
	if s.sendCtx == nil {
		s.sendCtx, s.cancelSend = context.WithCancel(ctx)
	}
	sctx := s.sendCtx
	p.mu.Unlock()
	n := 0
	for ; n < len(batch) && !s.halted.Load(); n++ {
		seq := seqs[n]
		p.client.Produce(sctx, batch[n], func(r *kgo.Record, err error) { p.promise(s, seq, tag, now, r, err) })
	}
	p.mu.Lock()
	p.inflight -= len(batch) - n
	s.inflight -= len(batch) - n
	s.sent += uint64(n)
	p.mu.Unlock()
	p.m.sent.WithLabelValues(s.name).Add(float64(n))
}

// promise records the outcome of one produce: acknowledged; failed for good
// while alone in flight twice (dropped); failed for good with others
// (isolate it); or failed otherwise (resend after a backoff).
func (p *Producer) promise(s *stream, seq uint64, tag sendTag, sentAt time.Time, r *kgo.Record, err error) {
	now := time.Now()
	reason, permanent := permanentError(err)
	p.mu.Lock()
	p.inflight--
	s.inflight--
	switch {
	case err == nil:
		s.win.set(seq)
		s.acked++
		s.attempts = 0
		s.progress = now
		s.health.ok(now)
		s.iso.acked(tag, min(isoStart, p.cfg.ReadBatch))
		p.rate.add(now, 1)
		p.link.noteAck(now)
		if p.link.state != StateOnline {
			p.probeSoon()
		}
	case permanent && tag.alone && s.iso.suspect == seq:
		p.dropLocked(s, seq, len(r.Key)+len(r.Value), reason, err.Error())
		s.attempts = 0
	case permanent && tag.alone:
		s.iso.suspect = seq // once more alone, to be sure
		fallthrough
	case permanent:
		s.iso.failed(seq, tag, min(isoStart, p.cfg.ReadBatch))
		fallthrough
	default:
		s.failed = true
		s.errs++
		s.lastErr = "topic " + s.topic + ": " + err.Error()
		if topicError(err) {
			s.health.fail(now, s.lastErr, false)
		}
		s.halted.Store(true)
		if s.cancelSend != nil {
			s.cancelSend()
		}
	}
	s.iso.settle(s.win.mark)
	p.mu.Unlock()
	if err == nil {
		s.ackedC.Inc()
		p.m.latency.Observe(now.Sub(sentAt).Seconds())
	} else {
		p.m.errors.WithLabelValues(s.name).Inc()
		p.log.Debug("produce failed", "stream", s.name, "seq", seq, "topic", r.Topic, "err", err)
	}
	p.poke()
}
