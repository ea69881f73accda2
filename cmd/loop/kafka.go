package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/wire"
)

// simNow returns the simulated time the plant has reached in Kafka: the
// oldest of the newest reading of each readings partition (so every line
// and gateway has delivered up to it), and false while a partition is
// still empty.
func simNow(ctx context.Context, seeds []string) (time.Time, bool, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return time.Time{}, false, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "edgepm.readings")
	if err != nil {
		return time.Time{}, false, err
	}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			offsets[o.Partition] = kgo.NewOffset().At(o.Offset - 1)
		}
	})
	if len(offsets) == 0 || len(offsets) < len(ends["edgepm.readings"]) {
		return time.Time{}, false, nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"edgepm.readings": offsets}))
	if err != nil {
		return time.Time{}, false, err
	}
	defer rd.Close()
	newest := map[int32]int64{}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for len(newest) < len(offsets) && pctx.Err() == nil {
		rd.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			var v struct {
				TS int64 `json:"ts"`
			}
			if json.Unmarshal(r.Value, &v) == nil && v.TS > newest[r.Partition] {
				newest[r.Partition] = v.TS
			}
		})
	}
	if len(newest) < len(offsets) {
		return time.Time{}, false, nil
	}
	oldest := int64(0)
	for _, ts := range newest {
		if oldest == 0 || ts < oldest {
			oldest = ts
		}
	}
	return time.UnixMilli(oldest).UTC(), true, nil
}

// createTopic creates topic with parts partitions.
func createTopic(ctx context.Context, seeds []string, topic string, parts int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// waitSim waits until the plant has reached simStart + d in Kafka, printing
// where it is every 10 s.
func waitSim(ctx context.Context, seeds []string, d time.Duration, why string) error {
	want := simStart.Add(d)
	last := time.Time{}
	fmt.Printf("loop: waiting for the plant to reach %s (%s)\n", days(d), why)
	for {
		now, ok, err := simNow(ctx, seeds)
		if err == nil && ok && !now.Before(want) {
			return nil
		}
		if time.Since(last) > 10*time.Second {
			if ok {
				fmt.Printf("loop:   plant at %s in Kafka\n", days(now.Sub(simStart)))
			}
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (%s): %w", days(d), why, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// eventTap keeps the events topic's events. Safe for concurrent use.
type eventTap struct {
	mu     sync.Mutex
	events []tapped
}

type tapped struct {
	wire.Event
	at time.Time // when the tap read it
}

func (t *eventTap) run(ctx context.Context, seeds []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("edgepm.events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.MetadataMinAge(time.Second))
	if err != nil {
		return err
	}
	go func() {
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				var e wire.Event
				if json.Unmarshal(r.Value, &e) == nil {
					t.mu.Lock()
					t.events = append(t.events, tapped{Event: e, at: now})
					t.mu.Unlock()
				}
			})
		}
	}()
	return nil
}

// since returns the events of the given types read at or after from
// (every type when types is empty).
func (t *eventTap) since(from time.Time, types ...string) []tapped {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []tapped
	for _, e := range t.events {
		if !e.at.Before(from) && (len(types) == 0 || slices.Contains(types, e.Type)) {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits until an event matching ok has been read.
func (t *eventTap) waitEvent(ctx context.Context, d time.Duration, what string, ok func(tapped) bool) (tapped, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		for _, e := range t.since(time.Time{}) {
			if ok(e) {
				return e, nil
			}
		}
		select {
		case <-ctx.Done():
			return tapped{}, fmt.Errorf("no %s event within %s", what, d)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
