package edge

import (
	"fmt"
	"time"
)

// DefaultHeartbeatInterval is fleet.heartbeat_interval's default.
const DefaultHeartbeatInterval = 30 * time.Second

// FleetConfig configures what the gateway tells the fleet: its heartbeat on
// the compacted gateways topic (docs/formats/gateways.md).
type FleetConfig struct {
	// Enabled false writes no heartbeat. Default true.
	Enabled *bool `yaml:"enabled"`
	// HeartbeatInterval is how often the gateway's state snapshot is
	// written to the gateways topic. Default 30s; 0 writes none.
	HeartbeatInterval *time.Duration `yaml:"heartbeat_interval"`
}

func (c *FleetConfig) setDefaults() {
	if c.Enabled == nil {
		t := true
		c.Enabled = &t
	}
	if c.HeartbeatInterval == nil {
		d := DefaultHeartbeatInterval
		c.HeartbeatInterval = &d
	}
}

func (c *FleetConfig) validate() error {
	if d := *c.HeartbeatInterval; d != 0 && (d < time.Second || d > time.Hour) {
		return fmt.Errorf("fleet.heartbeat_interval: must be 0 (off) or between 1s and 1h, got %s", d)
	}
	return nil
}

// heartbeatInterval is the interval heartbeats are written at, 0 when the
// gateway writes none (fleet.enabled false or fleet.heartbeat_interval 0,
// or defaults not applied: then the buffer has no gateways stream either).
func (c *FleetConfig) heartbeatInterval() time.Duration {
	if c.Enabled == nil || c.HeartbeatInterval == nil || !*c.Enabled {
		return 0
	}
	return *c.HeartbeatInterval
}
