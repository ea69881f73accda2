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
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/edgepm/edgepm/internal/wire"
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
	return p.checkTopics(ctx, false)
}

// recheckTopics looks again at the topics the start-up check found missing
// (streams failing from the check, with nothing produced since) and ends
// the failing state of those that exist now. Monitor goroutine.
func (p *Producer) recheckTopics(ctx context.Context) {
	p.mu.Lock()
	checked := false
	for _, s := range p.streams {
		checked = checked || s.health.failing && s.health.fromCheck
	}
	p.mu.Unlock()
	if checked {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		p.checkTopics(ctx, true)
	}
}

// checkTopics asks Kafka for the metadata of every stream topic and marks
// the streams whose topic is missing or not readable as failing (their
// records wait in the buffer; the condition names the topic). With
// recheck, it only ends the failing state of checked streams whose topic
// now exists. It reports whether Kafka answered.
func (p *Producer) checkTopics(ctx context.Context, recheck bool) bool {
	req := kmsg.NewPtrMetadataRequest()
	for _, s := range p.streams {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(s.topic)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, p.client)
	if err != nil {
		p.log.Warn("check that the stream topics exist", "err", err)
		return false
	}
	found := map[string]error{}
	for _, t := range resp.Topics {
		if t.Topic != nil {
			found[*t.Topic] = kerr.ErrorForCode(t.ErrorCode)
		}
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.streams {
		terr, ok := found[s.topic]
		switch {
		case !ok:
			terr = kerr.UnknownTopicOrPartition
		case terr != nil && !topicError(terr):
			continue // a transient answer (leader election ...): the producer will tell
		}
		if recheck {
			if terr == nil && s.health.fromCheck {
				s.health.ok(now)
			}
			continue
		}
		if terr != nil {
			s.health.fail(now, "topic "+s.topic+" (checked at start): "+terr.Error(), true)
		}
	}
	return true
}

// compactedStreams are the buffer streams whose topics hold state by key,
// not a log: created compacted, and warned about when they are not.
var compactedStreams = map[string]bool{wire.StreamGateways: true}

// ensureTopics creates the stream topics and the compacted models topic when
// cfg.CreateTopics is set (existing topics are left alone; the gateways
// stream's topic is compacted too), then checks that the compacted topics
// are compacted and logs a warning if not. cfg must have defaults applied
// (WithDefaults).
func ensureTopics(ctx context.Context, cl *kgo.Client, cfg Config, streams []string, log *slog.Logger) error {
	log = discardIfNil(log)
	adm := kadm.NewClient(cl)
	compacted := []string{cfg.Topic(DefaultModelsTopic)}
	var logs []string
	for _, s := range streams {
		if compactedStreams[s] {
			compacted = append(compacted, cfg.Topic(s))
		} else {
			logs = append(logs, cfg.Topic(s))
		}
	}
	if cfg.CreateTopics {
		if err := createTopics(ctx, adm, cfg, nil, logs...); err != nil {
			return err
		}
		compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		if err := createTopics(ctx, adm, cfg, compact, compacted...); err != nil {
			return err
		}
	}
	for i, t := range compacted {
		what := "gateways topic"
		if i == 0 {
			what = "models topic"
		}
		if err := checkCompacted(ctx, adm, t, what, log); err != nil {
			return err
		}
	}
	return nil
}

func createTopics(ctx context.Context, adm *kadm.Client, cfg Config, configs map[string]*string, topics ...string) error {
	if len(topics) == 0 {
		return nil
	}
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

// checkCompacted warns when a compacted topic (models, gateways) exists and
// is not compacted: a deleted-by-retention manifest would make gateways
// forget models, a deleted heartbeat would make the fleet forget a quiet
// gateway. A missing models topic is logged here (model delivery waits for
// it); a missing stream topic is reported by checkTopics like any other.
// what names the topic in the warning ("models topic").
func checkCompacted(ctx context.Context, adm *kadm.Client, topic, what string, log *slog.Logger) error {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		if what == "models topic" {
			log.Warn("models topic not found; model delivery waits for it", "topic", topic)
		}
		return nil
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			if *c.Value != "compact" && *c.Value != "compact,delete" && *c.Value != "delete,compact" {
				log.Warn(what+" is not compacted: old records may expire; set cleanup.policy=compact",
					"topic", topic, "cleanup.policy", *c.Value)
			}
			return nil
		}
	}
	log.Warn(what+" cleanup.policy unknown; it should be compact", "topic", topic)
	return nil
}
