package bridge

import (
	"context"
	"fmt"

	"github.com/edgepm/edgepm/buffer"
)

// SendNow produces r, a record already committed to the buffer (its Seq
// assigned), directly to its stream's topic and waits for Kafka's
// acknowledgement or ctx. It is for a record written at shutdown while the
// pump was stopping, such as the gateway's stopped heartbeat:
//   - when the pump already delivered r (Kafka acknowledged its seq), it
//     sends nothing and returns nil;
//   - after a direct send, when every earlier record of the stream was
//     acknowledged, r is deleted from the buffer, so the next Run does
//     not send it again; otherwise the buffered copy stays and goes again
//     then, a duplicate with the same gateway, stream and seq headers
//     (at-least-once).
//
// Headers are those the pump adds. Call it after Run returned and before
// Close (not concurrently with Run). It blocks until the acknowledgement,
// an error or ctx's end.
func (p *Producer) SendNow(ctx context.Context, r *buffer.Record) error {
	var s *stream
	for _, c := range p.streams {
		if c.name == r.Stream {
			s = c
		}
	}
	if s == nil {
		return fmt.Errorf("send record: stream %q is not configured", r.Stream)
	}
	p.mu.Lock()
	done := s.win.has(r.Seq)
	p.mu.Unlock()
	if done {
		return nil
	}
	if err := p.client.ProduceSync(ctx, p.kafkaRecord(s, r, false, nil)).FirstErr(); err != nil {
		return fmt.Errorf("send %s record to topic %s: %w", s.name, s.topic, err)
	}
	p.mu.Lock()
	s.win.set(r.Seq)
	mark := s.win.mark
	p.mu.Unlock()
	if mark >= r.Seq && mark > s.flushed {
		if err := p.q.Ack(s.name, mark); err != nil {
			return fmt.Errorf("sent %s record, but deleting it from the buffer failed (it is sent again at the next start): %w", s.name, err)
		}
		s.flushed = mark
	}
	return nil
}
