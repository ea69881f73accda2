package bridge

import (
	"context"
	"fmt"

	"github.com/edgepm/edgepm/buffer"
)

// SendNow produces r, a record already committed to the buffer (its Seq
// assigned), directly to its stream's topic and waits for Kafka's
// acknowledgement or ctx. It is for a record written at shutdown after the
// pump stopped reading, such as the gateway's stopped heartbeat: the
// buffered copy stays and is sent again by the next Run, a duplicate with
// the same gateway, stream and seq headers (at-least-once). Headers are
// those the pump adds. Safe for concurrent use; call it before Close. It
// blocks until the acknowledgement, an error or ctx's end.
func (p *Producer) SendNow(ctx context.Context, r *buffer.Record) error {
	for _, s := range p.streams {
		if s.name == r.Stream {
			if err := p.client.ProduceSync(ctx, p.kafkaRecord(s, r, false, nil)).FirstErr(); err != nil {
				return fmt.Errorf("send %s record to topic %s: %w", s.name, s.topic, err)
			}
			return nil
		}
	}
	return fmt.Errorf("send record: stream %q is not configured", r.Stream)
}
