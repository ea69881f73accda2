package bridge

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// NewClient returns a Kafka client for the central tools (`edgepm fleet`
// and its console, rollouts), connecting exactly as the gateway and the
// model commands do: cfg's brokers, TLS, SASL and client id, the
// publishers' producer settings (acks=all, idempotent; unused by a client
// that only consumes), then extra (topics to consume, a consumer group).
// The caller closes it.
func NewClient(cfg Config, log *slog.Logger, extra ...kgo.Opt) (*kgo.Client, error) {
	return newModelsClient(cfg, log, false, extra...)
}

// CreateCompactedTopic creates topic with cleanup.policy=compact and cfg's
// partitions and replication factor; an existing topic is left as it is.
func CreateCompactedTopic(ctx context.Context, cl *kgo.Client, cfg Config, topic string) error {
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	return createTopics(ctx, kadm.NewClient(cl), cfg.WithDefaults(), compact, topic)
}
