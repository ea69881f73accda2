package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// setupTopics runs once Kafka is first reached: it creates missing topics
// when Config.CreateTopics is set and warns when the models topic is not
// compacted. It reports whether it completed (false = try again later).
func (p *Producer) setupTopics(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	names := make([]string, 0, len(p.streams))
	for _, s := range p.streams {
		names = append(names, s.name)
	}
	if err := ensureTopics(ctx, p.client, p.cfg, names, p.log); err != nil {
		p.log.Warn("topic set-up", "err", err)
		return false
	}
	return true
}

// ensureTopics creates the stream topics and the compacted models topic when
// cfg.CreateTopics is set (existing topics are left alone), then checks that
// the models topic is compacted and logs a warning if not. cfg must have
// defaults applied (WithDefaults).
func ensureTopics(ctx context.Context, cl *kgo.Client, cfg Config, streams []string, log *slog.Logger) error {
	log = discardIfNil(log)
	adm := kadm.NewClient(cl)
	models := cfg.Topic(DefaultModelsTopic)
	if cfg.CreateTopics {
		var topics []string
		for _, s := range streams {
			topics = append(topics, cfg.Topic(s))
		}
		if err := createTopics(ctx, adm, cfg, nil, topics...); err != nil {
			return err
		}
		compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		if err := createTopics(ctx, adm, cfg, compact, models); err != nil {
			return err
		}
	}
	return checkCompacted(ctx, adm, models, log)
}

func createTopics(ctx context.Context, adm *kadm.Client, cfg Config, configs map[string]*string, topics ...string) error {
	resp, err := adm.CreateTopics(ctx, int32(cfg.Partitions), int16(cfg.ReplicationFactor), configs, topics...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// checkCompacted warns when the models topic exists and is not compacted
// (a deleted-by-retention manifest would make gateways forget models).
func checkCompacted(ctx context.Context, adm *kadm.Client, topic string, log *slog.Logger) error {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		log.Warn("models topic not found; model delivery waits for it", "topic", topic)
		return nil
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			if *c.Value != "compact" && *c.Value != "compact,delete" && *c.Value != "delete,compact" {
				log.Warn("models topic is not compacted: old manifests may expire; set cleanup.policy=compact",
					"topic", topic, "cleanup.policy", *c.Value)
			}
			return nil
		}
	}
	log.Warn("models topic cleanup.policy unknown; it should be compact", "topic", topic)
	return nil
}
