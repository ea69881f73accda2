package features

import (
	"encoding/json"
	"fmt"
	"time"
)

// Window kinds.
const (
	KindCount    = "count"    // the newest Size samples
	KindDuration = "duration" // samples newer than newest-Duration (at most Size)
)

// Defaults applied by WindowConfig.WithDefaults.
const (
	DefaultSize        = 30
	DefaultHop         = 1
	DefaultDurationCap = 1024
	DefaultMinSamples  = 2 // duration windows; a count window defaults to its Size
)

// WindowConfig says which samples a window holds and when it emits a row.
// The zero value is a count window of DefaultSize samples emitting every
// reading once full.
//
// A count window with MinSamples < Size is ready before it is full: from
// its MinSamples-th reading on, rows are computed over the samples it holds
// so far (a partial window). With MinSamples 1 and Hop 1 every reading of a
// device gets a row, including the first ones.
type WindowConfig struct {
	// Kind is KindCount (default) or KindDuration.
	Kind string `json:"kind,omitempty"`
	// Size is the number of samples of a count window, or the most samples a
	// duration window retains (default DefaultDurationCap).
	Size int `json:"size,omitempty"`
	// Duration is the span of a duration window.
	Duration Duration `json:"duration,omitempty"`
	// Hop: a row is emitted every Hop accepted readings once the window is
	// ready (count: MinSamples held; duration: Duration of data seen and
	// MinSamples held).
	Hop int `json:"hop,omitempty"`
	// MinSamples a window must hold to be ready, in [1, Size]. Default:
	// Size for a count window (ready only when full), DefaultMinSamples for
	// a duration window.
	MinSamples int `json:"min_samples,omitempty"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c WindowConfig) WithDefaults() WindowConfig {
	if c.Kind == "" {
		c.Kind = KindCount
	}
	if c.Size == 0 {
		c.Size = DefaultSize
		if c.Kind == KindDuration {
			c.Size = DefaultDurationCap
		}
	}
	if c.Hop == 0 {
		c.Hop = DefaultHop
	}
	if c.MinSamples == 0 {
		c.MinSamples = c.Size
		if c.Kind == KindDuration {
			c.MinSamples = DefaultMinSamples
		}
	}
	return c
}

// Validate checks a config (after WithDefaults) and names the bad field.
func (c WindowConfig) Validate() error {
	switch c.Kind {
	case KindCount:
		if c.Duration != 0 {
			return fmt.Errorf("window.duration: only for kind %q", KindDuration)
		}
	case KindDuration:
		if c.Duration <= 0 {
			return fmt.Errorf("window.duration: must be > 0, got %s", time.Duration(c.Duration))
		}
	default:
		return fmt.Errorf("window.kind: must be %q or %q, got %q", KindCount, KindDuration, c.Kind)
	}
	if c.Size < 1 || c.Size > 1<<20 {
		return fmt.Errorf("window.size: must be in [1, 1048576], got %d", c.Size)
	}
	if c.MinSamples < 1 || c.MinSamples > c.Size {
		return fmt.Errorf("window.min_samples: must be in [1, size], got %d", c.MinSamples)
	}
	if c.Hop < 1 {
		return fmt.Errorf("window.hop: must be >= 1, got %d", c.Hop)
	}
	return nil
}

// Duration is a time.Duration that encodes to JSON as a Go duration string
// ("30s") and decodes from such a string or from integer nanoseconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"30s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}
