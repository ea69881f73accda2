package edge

import (
	"fmt"
	"time"

	"github.com/edgepm/edgepm/buffer"
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
	// overflow) of readings, predictions, alerts, events, deadletter.
	Streams map[string]StreamConfig `yaml:"streams"`
}

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
		if _, ok := defaults[name]; !ok {
			return fmt.Errorf("buffer.streams: unknown stream %q (readings, predictions, alerts, events, deadletter)", name)
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

// options maps the config to buffer.Options.
func (c *BufferConfig) options() buffer.Options {
	o := buffer.Options{MaxBytes: c.MaxBytes, MaxRecordBytes: maxRecordBytes, NoSync: !*c.Fsync, FullWait: c.FullWait}
	if len(c.Streams) > 0 {
		o.Streams = buffer.DefaultStreams()
		for name, s := range c.Streams {
			so := o.Streams[name]
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
