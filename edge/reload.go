package edge

// Reload applies the settings of a new, validated config that can change
// while running: the validation rules (ranges, size limits, device list,
// clock skew). The log level is applied by the caller (it owns the
// slog.LevelVar). Everything else (brokers, data dir, buffer, model
// settings) needs a restart; Reload logs which of those differ.
func (a *App) Reload(cfg Config) {
	a.dec.Store(NewDecoder(cfg.Validation, nil))
	if cfg.MQTT.Broker != a.cfg.MQTT.Broker || cfg.DataDir != a.cfg.DataDir || cfg.HTTP.Listen != a.cfg.HTTP.Listen ||
		cfg.GatewayID != a.cfg.GatewayID {
		a.log.Warn("reload: gateway_id, data_dir, http.listen and mqtt.broker changes take effect after a restart")
	}
	a.event("config_reloaded", nil)
}
