package edge

import (
	"fmt"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/wire"
)

// BufferConfig configures the durable store-and-forward buffer
// (buffer.Options; docs/formats/buffer.md).
type BufferConfig struct {
	// MaxBytes caps the whole buffer. Default 512 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// Fsync false is UNSAFE: acknowledged readings can be lost on power
	// loss. Default true.
	Fsync *bool `yaml:"fsync"`
	// FullWait is how long an append to a "block" stream at its cap waits
	// for space. Default 2s.
	FullWait time.Duration `yaml:"full_wait"`
	// Streams overrides per-stream settings (priority, max_bytes, ttl,
	// overflow) of readings, predictions, alerts, events, deadletter,
	// gateways.
	Streams map[string]StreamConfig `yaml:"streams"`

	// heartbeats configures the gateways stream (heartbeats are on: see
	// FleetConfig); Config.setDefaults sets it.
	heartbeats bool
}

// gatewaysStream is the gateways stream's default: above predictions and
// below events, so a heartbeat is neither dropped for predictions nor
// drains after a backlog of them (the fleet sees a returning gateway's
// state at once), and a small cap, dropping the oldest: one heartbeat is
// ~1 KiB and only the latest one matters to the compacted topic, so
// 1 MiB holds the last ~8 hours at 30s and never costs the other streams
// more than that.
func gatewaysStream(maxBytes int64) buffer.StreamOptions {
	return buffer.StreamOptions{Priority: 80, MaxBytes: max(1, min(1<<20, maxBytes/64)), TTL: -1, Overflow: buffer.DropOldest}
}

// knownStreams are the names buffer.streams takes.
const knownStreams = "readings, predictions, alerts, events, deadletter, gateways"

// StreamConfig overrides one stream's settings; zero fields keep the
// stream's defaults.
type StreamConfig struct {
	Priority int           `yaml:"priority"`
	MaxBytes int64         `yaml:"max_bytes"`
	TTL      time.Duration `yaml:"ttl"`
	Overflow string        `yaml:"overflow"` // drop_oldest | block
}

func (c *BufferConfig) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = 512 << 20
	}
	if c.Fsync == nil {
		t := true
		c.Fsync = &t
	}
	if c.FullWait == 0 {
		c.FullWait = 2 * time.Second
	}
}

func (c *BufferConfig) validate() error {
	if c.MaxBytes <= 0 {
		return fmt.Errorf("buffer.max_bytes: must be > 0, got %d", c.MaxBytes)
	}
	defaults := buffer.DefaultStreams()
	for name, s := range c.Streams {
		if _, ok := defaults[name]; !ok && name != wire.StreamGateways {
			return fmt.Errorf("buffer.streams: unknown stream %q (%s)", name, knownStreams)
		}
		if s.Overflow != "" && s.Overflow != string(buffer.DropOldest) && s.Overflow != string(buffer.Block) {
			return fmt.Errorf("buffer.streams.%s.overflow: must be drop_oldest or block, got %q", name, s.Overflow)
		}
	}
	if err := c.options().Validate(); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	return nil
}

// options maps the config to buffer.Options: the default streams, the
// gateways stream while heartbeats are on, and the overrides.
func (c *BufferConfig) options() buffer.Options {
	o := buffer.Options{MaxBytes: c.MaxBytes, MaxRecordBytes: maxRecordBytes, NoSync: !*c.Fsync, FullWait: c.FullWait}
	if len(c.Streams) > 0 || c.heartbeats {
		o.Streams = buffer.DefaultStreams()
		if c.heartbeats {
			o.Streams[wire.StreamGateways] = gatewaysStream(c.MaxBytes)
		}
		for name, s := range c.Streams {
			so, ok := o.Streams[name]
			if !ok {
				continue // gateways while heartbeats are off
			}
			if s.Priority != 0 {
				so.Priority = s.Priority
			}
			if s.MaxBytes != 0 {
				so.MaxBytes = s.MaxBytes
			}
			if s.TTL != 0 {
				so.TTL = s.TTL
			}
			if s.Overflow != "" {
				so.Overflow = buffer.Policy(s.Overflow)
			}
			o.Streams[name] = so
		}
	}
	return o
}
