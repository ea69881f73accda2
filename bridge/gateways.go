package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/internal/wire"
)

// ErrNoHeartbeat is returned by Decommission (without force) when the
// gateways topic holds no heartbeat of the gateway: it never wrote one
// there, or it was decommissioned already.
var ErrNoHeartbeat = errors.New("no heartbeat of this gateway on the gateways topic")

// LastHeartbeat reads the gateways topic (Config.Topic("gateways")) to its
// end and returns the newest heartbeat of gateway (by its ts: a heartbeat
// sent again after a failure can land after a newer one), or nil when
// there is none or the gateway's last record is a tombstone.
func LastHeartbeat(ctx context.Context, cfg Config, gateway string, log *slog.Logger) (*wire.Heartbeat, error) {
	cfg = cfg.WithDefaults()
	topic := cfg.Topic(wire.StreamGateways)
	var last *wire.Heartbeat
	err := readTopic(ctx, cfg, log, "read "+topic, topic, func(r *kgo.Record) {
		if string(r.Key) != gateway {
			return
		}
		if r.Value == nil {
			last = nil
			return
		}
		var hb wire.Heartbeat
		if json.Unmarshal(r.Value, &hb) == nil && (last == nil || !hb.TS.Before(last.TS)) {
			last = &hb
		}
	})
	return last, err
}

// Decommission removes gateway from the fleet: it writes a tombstone (a
// null value) for its key on the gateways topic, so compaction drops its
// heartbeats and fleet views forget it. Unless force, it first reads the
// topic and returns ErrNoHeartbeat (writing nothing) when the gateway has
// no heartbeat there; otherwise it returns the last heartbeat it removed
// (nil with force when there was none). A gateway still running writes its
// next heartbeat and is back: stop it first.
func Decommission(ctx context.Context, cfg Config, gateway string, force bool, log *slog.Logger) (*wire.Heartbeat, error) {
	cfg = cfg.WithDefaults()
	topic := cfg.Topic(wire.StreamGateways)
	var last *wire.Heartbeat
	if !force {
		var err error
		if last, err = LastHeartbeat(ctx, cfg, gateway, log); err != nil {
			return nil, fmt.Errorf("decommission %s: %w", gateway, err)
		}
		if last == nil {
			return nil, fmt.Errorf("decommission %s: %w %s", gateway, ErrNoHeartbeat, topic)
		}
	}
	cl, err := newModelsClient(cfg, log, false)
	if err != nil {
		return nil, fmt.Errorf("decommission %s: %w", gateway, err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(gateway)}).FirstErr(); err != nil {
		return nil, fmt.Errorf("decommission %s: tombstone on %s: %w", gateway, topic, err)
	}
	return last, nil
}
