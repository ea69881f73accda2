package bridge

import (
	"context"
	"time"
)

// acker deletes acknowledged records from the buffer every AckInterval: for
// each stream, everything up to the contiguous watermark. Batching the
// deletes keeps the buffer's write transactions few.
func (p *Producer) acker(ctx context.Context) {
	t := time.NewTicker(p.cfg.AckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.flushAcks()
		}
	}
}

// flushAcks calls buffer Ack for every stream whose watermark moved.
// Called by the acker and once more when Run ends (never concurrently).
func (p *Producer) flushAcks() {
	for _, s := range p.streams {
		p.mu.Lock()
		mark := s.win.mark
		p.mu.Unlock()
		if mark <= s.flushed {
			continue
		}
		if err := p.q.Ack(s.name, mark); err != nil {
			p.log.Error("delete acknowledged records from buffer", "stream", s.name, "up_to", mark, "err", err)
			continue
		}
		s.flushed = mark
	}
}
