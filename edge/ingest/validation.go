package ingest

import (
	"fmt"
	"math"
	"time"
)

// Unknown-device policies.
const (
	UnknownDeviceAccept = "accept"
	UnknownDeviceReject = "reject"
)

// Null-value policies (validation.null_values).
const (
	NullReject = "reject" // a null sensor value dead-letters the message as wrong_type
	NullSkip   = "skip"   // a null sensor value is left out of its reading
)

// The defaults of validation.max_payload_bytes and max_waveform_samples
// fit each other and the record limits: a waveform of
// DefaultMaxWaveformSamples float32 samples, base64 in JSON (4/3 x 4 bytes a
// sample, 171 KiB), fits a default payload, and so does a 25.6 kHz
// one-second capture as JSON numbers of up to 9 characters; its readings
// record, with samples as JSON numbers of at most 25 bytes (800 KiB),
// fits the buffer's 1 MiB record.
const (
	DefaultMaxPayloadBytes    = 256 << 10
	DefaultMaxWaveformSamples = 32768
)

// Range bounds one sensor's plausible values (inclusive).
type Range struct {
	Min float64 `yaml:"min"`
	Max float64 `yaml:"max"`
}

// ValidationConfig says what an acceptable payload is. Zero values mean the
// documented defaults (docs/configuration.md).
type ValidationConfig struct {
	// MaxPayloadBytes is the largest accepted MQTT payload. Default
	// DefaultMaxPayloadBytes (256 KiB).
	MaxPayloadBytes int `yaml:"max_payload_bytes"`
	// MaxBatch is the most readings in one batch payload. Default 1000.
	MaxBatch int `yaml:"max_batch"`
	// MaxWaveformSamples is the most samples in one waveform. Default
	// DefaultMaxWaveformSamples (32768).
	MaxWaveformSamples int `yaml:"max_waveform_samples"`
	// MaxClockSkew rejects readings whose timestamp is further than this
	// from the gateway clock. Default 24h; negative disables the check.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// MaxFutureSkew rejects readings stamped further than this AHEAD of the
	// gateway clock (a device whose clock runs ahead would otherwise make
	// its later, correct readings look out of order). Default 5m; negative
	// disables the check (max_clock_skew still applies).
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	// Ranges bounds sensor values by sensor name; readings outside go to
	// the dead-letter stream.
	Ranges map[string]Range `yaml:"ranges"`
	// Devices lists known device ids (path.Match globs).
	Devices []string `yaml:"devices"`
	// UnknownDevice is "accept" (default) or "reject" (dead-letter
	// messages from devices not matching Devices).
	UnknownDevice string `yaml:"unknown_device"`
	// NullValues is what a sensor sent as JSON null in "values" means:
	// "reject" (default: the message is dead-lettered as wrong_type) or
	// "skip" (the sensor is left out of that reading; a reading left with
	// no values is dead-lettered as missing_field). A null waveform sample
	// is always rejected. Never stored as 0.
	NullValues string `yaml:"null_values"`
	// StuckAfter flags a sensor as stuck once it reports exactly the same
	// value in this many consecutive readings of its device: a
	// sensor.stuck event, the edgepm_sensors_stuck gauge and the device's
	// status; its first different value sends sensor.recovered. The
	// readings are still stored and scored. Default 0: off (quantised and
	// set-point channels repeat legitimately: list them in StuckIgnore).
	StuckAfter int `yaml:"stuck_after"`
	// StuckIgnore lists sensors never flagged as stuck.
	StuckIgnore []string `yaml:"stuck_ignore"`

	stuckIgnore map[string]bool // StuckIgnore as a set (SetDefaults)
}

// SetDefaults fills zero fields with their documented defaults.
func (c *ValidationConfig) SetDefaults() {
	if c.MaxPayloadBytes == 0 {
		c.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.MaxWaveformSamples == 0 {
		c.MaxWaveformSamples = DefaultMaxWaveformSamples
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = 24 * time.Hour
	}
	if c.MaxFutureSkew == 0 {
		c.MaxFutureSkew = 5 * time.Minute
	}
	if c.UnknownDevice == "" {
		c.UnknownDevice = UnknownDeviceAccept
	}
	if c.NullValues == "" {
		c.NullValues = NullReject
	}
	c.stuckIgnore = make(map[string]bool, len(c.StuckIgnore))
	for _, s := range c.StuckIgnore {
		c.stuckIgnore[s] = true
	}
}

// Validate names the first bad field (by its validation.* key) and its value.
func (c *ValidationConfig) Validate() error {
	switch {
	case c.MaxPayloadBytes < 0:
		return fmt.Errorf("validation.max_payload_bytes: must be > 0, got %d", c.MaxPayloadBytes)
	case c.MaxBatch < 0:
		return fmt.Errorf("validation.max_batch: must be > 0, got %d", c.MaxBatch)
	case c.MaxWaveformSamples < 0:
		return fmt.Errorf("validation.max_waveform_samples: must be > 0, got %d", c.MaxWaveformSamples)
	case c.StuckAfter < 0 || c.StuckAfter == 1:
		return fmt.Errorf("validation.stuck_after: must be 0 (off) or at least 2 readings, got %d", c.StuckAfter)
	case c.UnknownDevice != "" && c.UnknownDevice != UnknownDeviceAccept && c.UnknownDevice != UnknownDeviceReject:
		return fmt.Errorf("validation.unknown_device: must be accept or reject, got %q", c.UnknownDevice)
	case c.NullValues != "" && c.NullValues != NullReject && c.NullValues != NullSkip:
		return fmt.Errorf("validation.null_values: must be reject or skip, got %q", c.NullValues)
	}
	for name, r := range c.Ranges {
		if math.IsNaN(r.Min) || math.IsNaN(r.Max) || r.Min > r.Max {
			return fmt.Errorf("validation.ranges.%s: min must be <= max, got [%g, %g]", name, r.Min, r.Max)
		}
	}
	return nil
}
