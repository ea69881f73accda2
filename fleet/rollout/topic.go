package rollout

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

// GatewaysTopic is the gateways topic's name without the prefix (key =
// gateway id, value wire.Heartbeat, tombstone = decommissioned).
const GatewaysTopic = wire.StreamGateways

// Store reads and writes rollout records on the rollouts topic.
// Its methods block on Kafka until ctx ends; it is safe for concurrent use.
type Store struct {
	cfg  bridge.Config
	keys []ed25519.PublicKey
	log  *slog.Logger
}

// NewStore returns a Store for cfg's rollouts topic; records are verified with keys.
func NewStore(cfg bridge.Config, keys []ed25519.PublicKey, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{cfg: cfg.WithDefaults(), keys: keys, log: log}
}

// Topic is the rollouts topic (kafka.topic_prefix + "rollouts").
func (s *Store) Topic() string { return s.cfg.Topic(DefaultTopic) }

// Latest returns the current record of name (nil when there is none).
// Records that do not verify are skipped with a warning.
func (s *Store) Latest(ctx context.Context, name string) (*Record, error) {
	all, err := s.All(ctx)
	if err != nil {
		return nil, err
	}
	return all[name], nil
}

// All reads the rollouts topic to its end: the current record per name.
func (s *Store) All(ctx context.Context) (map[string]*Record, error) {
	out := map[string]*Record{}
	err := readToEnd(ctx, s.cfg, s.log, s.Topic(), func(r *kgo.Record) {
		name := string(r.Key)
		if r.Value == nil {
			delete(out, name)
			return
		}
		rec, err := Verify(r.Value, s.keys)
		if err != nil || rec.Name != name {
			s.log.Warn("rollouts topic: record ignored", "model", name, "offset", r.Offset, "err", err)
			return
		}
		if old := out[name]; old == nil || rec.Counter >= old.Counter {
			out[name] = rec
		}
	})
	if errors.Is(err, errNoTopic) {
		return out, nil
	}
	return out, err
}

// Write signs rec and writes it (key = rec.Name), creating the compacted
// topic when it is missing.
func (s *Store) Write(ctx context.Context, rec *Record, priv ed25519.PrivateKey) error {
	v, err := Sign(rec, priv)
	if err != nil {
		return err
	}
	cl, err := bridge.NewClient(s.cfg, s.log)
	if err != nil {
		return fmt.Errorf("write rollout %s: %w", rec.ID, err)
	}
	defer cl.Close()
	if err := bridge.CreateCompactedTopic(ctx, cl, s.cfg, s.Topic()); err != nil {
		s.log.Warn("could not create the rollouts topic; it must exist", "topic", s.Topic(), "err", err)
	}
	r := &kgo.Record{Topic: s.Topic(), Key: []byte(rec.Name), Value: v}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("write rollout %s to %s: %w", rec.ID, s.Topic(), err)
	}
	// The event follows the record it reports; the record is the state, so
	// an event that cannot be written is only warned about.
	if ev := rolloutEvent(rec); ev != nil {
		ev.Topic = s.cfg.Topic(buffer.StreamEvents)
		ectx, cancel := context.WithTimeout(ctx, eventTimeout)
		defer cancel()
		if err := cl.ProduceSync(ectx, ev).FirstErr(); err != nil {
			s.log.Warn("rollout event not written", "topic", ev.Topic, "rollout", rec.ID, "err", err)
		}
	}
	return nil
}

// eventTimeout bounds the wait for a rollout event's write (an events
// topic that does not exist is retried, not refused at once).
const eventTimeout = 10 * time.Second

// rolloutEvent is the events-topic record (rollout.started, .promoted or
// .aborted) of rec's latest transition; nil for a state without one.
func rolloutEvent(rec *Record) *kgo.Record {
	typ := map[string]string{StateCanary: wire.EventRolloutStarted, StateShadow: wire.EventRolloutStarted,
		StatePromoted: wire.EventRolloutPromoted, StateAborted: wire.EventRolloutAborted}[rec.State]
	if typ == "" {
		return nil
	}
	at, by, reason := time.Now(), "", ""
	if n := len(rec.History); n > 0 {
		at, by, reason = rec.History[n-1].At, rec.History[n-1].By, rec.History[n-1].Reason
	}
	value := wire.EncodeEvent(wire.EventSourceFleet, typ, at, map[string]any{"rollout": rec.ID, "model": rec.Name,
		"version": rec.Version, "stable": rec.Stable, "state": rec.State, "by": by, "reason": reason})
	return &kgo.Record{Key: []byte(wire.EventSourceFleet), Value: value}
}

// Heartbeats reads the gateways topic to its end: the latest heartbeat
// per gateway, decommissioned (tombstoned) gateways removed. A value that
// does not decode is skipped.
func Heartbeats(ctx context.Context, cfg bridge.Config, log *slog.Logger) (map[string]*wire.Heartbeat, error) {
	cfg = cfg.WithDefaults()
	out := map[string]*wire.Heartbeat{}
	err := readToEnd(ctx, cfg, log, cfg.Topic(GatewaysTopic), func(r *kgo.Record) {
		applyHeartbeat(out, r)
	})
	if errors.Is(err, errNoTopic) {
		return out, nil
	}
	return out, err
}

func applyHeartbeat(m map[string]*wire.Heartbeat, r *kgo.Record) {
	id := string(r.Key)
	if r.Value == nil {
		delete(m, id)
		return
	}
	var hb wire.Heartbeat
	if json.Unmarshal(r.Value, &hb) != nil {
		return
	}
	m[id] = &hb
}

// Serving returns the ids, sorted, whose heartbeat says they serve name.
func Serving(hbs map[string]*wire.Heartbeat, name string) []string {
	var ids []string
	for id, hb := range hbs {
		if hb.Model != nil && hb.Model.Name == name {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

var errNoTopic = errors.New("topic does not exist")

// readToEnd calls fn for every record of topic up to the end offsets taken
// at the start, then returns (errNoTopic when the topic is missing).
func readToEnd(ctx context.Context, cfg bridge.Config, log *slog.Logger, topic string, fn func(*kgo.Record)) error {
	cl, err := bridge.NewClient(cfg, log, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	defer cl.Close()
	left, err := endOffsets(ctx, cl, topic)
	if err != nil {
		return err
	}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("read %s: %w", topic, ctx.Err())
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return fmt.Errorf("read %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			fn(r)
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return nil
}

func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("read %s: end offsets: %w", topic, err)
	}
	if err := ends.Error(); errors.Is(err, kerr.UnknownTopicOrPartition) || len(ends[topic]) == 0 {
		return nil, fmt.Errorf("read %s: %w", topic, errNoTopic)
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	return left, nil
}

// Keys are the public keys records are verified with.
func (s *Store) Keys() []ed25519.PublicKey { return s.keys }
