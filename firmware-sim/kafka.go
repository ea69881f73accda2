package sim

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/edgepm/edgepm/internal/wire"
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

// KafkaLabelSink produces labels to a Kafka topic (key: device id), as a
// maintenance system publishing to edgepm.labels would. SendLabel does not
// wait for the acknowledgement; Close waits for all of them and returns the
// first error. Safe for concurrent use.
type KafkaLabelSink struct {
	cl    *kgo.Client
	topic string
	mu    sync.Mutex
	err   error
}

// NewKafkaLabelSink connects a producer to seeds for topic.
func NewKafkaLabelSink(seeds []string, topic string) (*KafkaLabelSink, error) {
	if len(seeds) == 0 || topic == "" {
		return nil, fmt.Errorf("labels to kafka: %w: need brokers and a topic", ErrConfig)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation()) // no RecordDeliveryTimeout: franz-go measures it from the record timestamp, here simulated time
	if err != nil {
		return nil, fmt.Errorf("labels to kafka: %w", err)
	}
	return &KafkaLabelSink{cl: cl, topic: topic}, nil
}

// SendLabel produces l. A delivery failure is returned by every later
// SendLabel (the topic missing, the brokers refusing: they go on being
// tried) and by Close.
func (s *KafkaLabelSink) SendLabel(ctx context.Context, l wire.Label) error {
	s.mu.Lock()
	failed := s.err
	s.mu.Unlock()
	rec := &kgo.Record{Key: []byte(l.Device), Value: wire.MustJSON(l), Timestamp: time.UnixMilli(l.Reported)}
	s.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		if err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = fmt.Errorf("produce label to %s: %w", s.topic, err)
			}
			s.mu.Unlock()
		}
	})
	return failed
}

// Close waits for every label to be acknowledged and closes the client.
func (s *KafkaLabelSink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ferr := s.cl.Flush(ctx)
	s.cl.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if ferr != nil {
		return fmt.Errorf("flush labels to %s: %w", s.topic, ferr)
	}
	return nil
}
