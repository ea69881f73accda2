package bridge

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ClientOptions returns the kgo options every edgepm Kafka client shares
// (seed brokers, client id, TLS, SASL, logging) for cfg, defaults applied,
// so tools outside this package (the fleet console) connect exactly as the
// gateway and the model commands do. log may be nil.
func ClientOptions(cfg Config, log *slog.Logger) ([]kgo.Opt, error) {
	return clientOpts(cfg.WithDefaults(), log)
}
