package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

// Reader feeds a View from Kafka. It reads the compacted state topics
// (gateways, models) whole from their start, without a consumer group:
// every console needs the state of every gateway, so splitting partitions
// between instances would give each a part of the fleet. The alerts and
// events topics are read from RecentMax records before their end.
type Reader struct {
	cfg  bridge.Config
	view *View
	log  *slog.Logger
}

// NewReader returns a reader of the topics cfg names (kafka.topic_prefix,
// brokers, TLS, SASL) into view. log may be nil.
func NewReader(cfg bridge.Config, view *View, log *slog.Logger) *Reader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reader{cfg: cfg.WithDefaults(), view: view, log: log}
}

func (r *Reader) stateTopics() []string {
	return []string{r.cfg.Topic(wire.StreamGateways), r.cfg.Topic(bridge.DefaultModelsTopic)}
}

// CatchUp reads the gateways and models topics up to the end offsets they
// have when it starts, marks the view caught up and returns. It blocks
// until then or until ctx ends.
func (r *Reader) CatchUp(ctx context.Context) error {
	cl, err := r.client(kgo.ConsumeTopics(r.stateTopics()...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	left, err := r.endOffsets(ctx, cl)
	if err != nil {
		return err
	}
	for len(left) > 0 {
		if err := r.pollState(ctx, cl, left); err != nil {
			return err
		}
	}
	r.view.SetCaughtUp()
	return nil
}

// Run reads the state topics and the recent alerts and events until ctx
// ends, and marks the view caught up once the state topics were read to
// the ends they had at the start. It returns nil when ctx ends, or the
// error that stopped it before.
func (r *Reader) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); defer cancel(); errs[0] = r.runState(ctx) }()
	go func() { defer wg.Done(); defer cancel(); errs[1] = r.runRecent(ctx) }()
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Reader) runState(ctx context.Context) error {
	cl, err := r.client(kgo.ConsumeTopics(r.stateTopics()...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	var left map[topicPartition]int64
	for ctx.Err() == nil {
		if left, err = r.endOffsets(ctx, cl); err == nil {
			break
		}
		r.log.Warn("fleet: cannot list the end offsets of the state topics; retrying", "err", err)
		if !wait(ctx, 2*time.Second) {
			return nil
		}
	}
	if len(left) == 0 {
		r.view.SetCaughtUp()
	}
	for ctx.Err() == nil {
		if err := r.pollState(ctx, cl, left); err != nil && ctx.Err() == nil {
			r.log.Warn("fleet: reading the state topics", "err", err)
			wait(ctx, time.Second)
		}
	}
	return nil
}

func (r *Reader) runRecent(ctx context.Context) error {
	events, alerts := r.cfg.Topic(buffer.StreamEvents), r.cfg.Topic(buffer.StreamAlerts)
	cl, err := r.client(kgo.ConsumeTopics(events, alerts),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd().Relative(-RecentMax)))
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				r.log.Warn("fleet: reading recent alerts and events", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Topic == alerts {
				_ = r.view.ApplyAlert(rec.Value, rec.Timestamp)
			} else {
				_ = r.view.ApplyEvent(rec.Value, rec.Timestamp)
			}
		})
	}
	return nil
}

func (r *Reader) client(opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := bridge.NewClient(r.cfg, r.log, opts...)
	if err != nil {
		return nil, fmt.Errorf("fleet: kafka client: %w", err)
	}
	return cl, nil
}

type topicPartition struct {
	topic     string
	partition int32
}

// endOffsets returns the partitions of the state topics that hold records
// and the offset after their last one. A topic that does not exist yet
// (no gateway has sent a heartbeat) has nothing to wait for.
func (r *Reader) endOffsets(ctx context.Context, cl *kgo.Client) (map[topicPartition]int64, error) {
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, r.stateTopics()...)
	if err != nil {
		return nil, fmt.Errorf("fleet: list start offsets of %v: %w", r.stateTopics(), err)
	}
	ends, err := adm.ListEndOffsets(ctx, r.stateTopics()...)
	if err != nil {
		return nil, fmt.Errorf("fleet: list end offsets of %v: %w", r.stateTopics(), err)
	}
	left := map[topicPartition]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		s, ok := starts.Lookup(o.Topic, o.Partition)
		if o.Err == nil && ok && s.Err == nil && o.Offset > s.Offset {
			left[topicPartition{o.Topic, o.Partition}] = o.Offset
		}
	})
	return left, nil
}

// pollState applies one fetch of the state topics to the view and marks
// the view caught up when the last partition in left reached its end.
func (r *Reader) pollState(ctx context.Context, cl *kgo.Client, left map[topicPartition]int64) error {
	fs := cl.PollFetches(ctx)
	if ctx.Err() != nil {
		return fmt.Errorf("fleet: read %v: %w", r.stateTopics(), ctx.Err())
	}
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		ferr = errors.Join(ferr, fmt.Errorf("fleet: read %s partition %d: %w", t, p, err))
	})
	gateways := r.cfg.Topic(wire.StreamGateways)
	fs.EachRecord(func(rec *kgo.Record) {
		var err error
		if rec.Topic == gateways {
			err = r.view.ApplyHeartbeat(rec.Key, rec.Value, rec.Timestamp)
		} else {
			err = r.view.ApplyModelRecord(rec.Key, rec.Value)
		}
		if err != nil {
			r.log.Debug("fleet: record ignored", "topic", rec.Topic, "offset", rec.Offset, "err", err)
		}
		tp := topicPartition{rec.Topic, rec.Partition}
		if end, ok := left[tp]; ok && rec.Offset+1 >= end {
			delete(left, tp)
			if len(left) == 0 {
				r.view.SetCaughtUp()
			}
		}
	})
	return ferr
}

// wait waits d or until ctx ends; it reports whether ctx is still live.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
