package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadKafkaEvents consumes topics from the start and returns the events
// per topic, parsed with ParseEvent (unparsable records are counted in
// bad), stopping when no record arrived for idle (default 3s) or ctx ends.
func ReadKafkaEvents(ctx context.Context, seeds, topics []string, idle time.Duration) (events map[string][]Event, bad int, err error) {
	if idle <= 0 {
		idle = 3 * time.Second
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, 0, fmt.Errorf("read kafka: %w", err)
	}
	defer cl.Close()
	events = map[string][]Event{}
	for {
		pctx, cancel := context.WithTimeout(ctx, idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return events, bad, ctx.Err()
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			ev, err := ParseEvent(r.Value)
			if err != nil {
				bad++
				return
			}
			events[r.Topic] = append(events[r.Topic], ev)
		})
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded && e.Err != context.Canceled {
				return events, bad, fmt.Errorf("read kafka %s: %w", e.Topic, e.Err)
			}
		}
		if n == 0 {
			return events, bad, nil
		}
	}
}
