package edge

import "github.com/edgepm/edgepm/internal/wire"

// Reload applies the settings of a new, validated config that can change
// while running: the validation rules (ranges, size limits, device list,
// clock skew), the alert threshold override (inference.thresholds) and the
// backlog rate limits (kafka.backlog). The log level is applied by the caller (it owns the
// slog.LevelVar). Everything else (brokers, data dir, buffer, model
// settings) needs a restart; Reload logs which of those differ.
func (a *App) Reload(cfg Config) {
	if err := a.pipeline.SetValidation(cfg.Validation); err != nil {
		a.log.Error("reload: validation rejected; keeping the previous settings", "err", err)
	}
	if err := a.engine.SetThresholds(cfg.Inference.Thresholds.inference()); err != nil {
		a.log.Error("reload: inference.thresholds rejected; keeping the previous ones", "err", err)
	}
	a.producer.SetBacklogLimits(cfg.Kafka.Backlog.RateLimit, cfg.Kafka.Backlog.ByteRateLimit)
	if cfg.MQTT.Broker != a.cfg.MQTT.Broker || cfg.DataDir != a.cfg.DataDir || cfg.HTTP.Listen != a.cfg.HTTP.Listen ||
		cfg.GatewayID != a.cfg.GatewayID {
		a.log.Warn("reload: gateway_id, data_dir, http.listen and mqtt.broker changes take effect after a restart")
	}
	a.event(wire.EventConfigReloaded, nil)
}
