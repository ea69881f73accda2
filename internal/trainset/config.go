package trainset

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/edgepm/edgepm/inference/features"
)

// Default topics (the gateway's default prefix "edgepm.").
const (
	DefaultReadingsTopic = "edgepm.readings"
	DefaultLabelsTopic   = "edgepm.labels"
)

// Config says what to extract. Zero values mean the documented defaults.
type Config struct {
	Brokers []string // seed brokers, required
	// ReadingsTopic and LabelsTopic default to DefaultReadingsTopic and
	// DefaultLabelsTopic.
	ReadingsTopic, LabelsTopic string
	// Group is the consumer group; processes sharing one extraction pass
	// the same name. Default: a name unique to this call.
	Group string
	// From and To bound the readings' device time: [From, To). Required.
	From, To time.Time
	// Plan and Window are the model's features and window (the gateway's).
	Plan   *features.Plan
	Window features.WindowConfig
	// Horizon: a row is labelled 1 when a failure follows its window end
	// within Horizon. Required.
	Horizon time.Duration
	// Every keeps at most one row per device per Every of window-end time;
	// 0 keeps every row.
	Every time.Duration
}

func (c Config) withDefaults() Config {
	if c.ReadingsTopic == "" {
		c.ReadingsTopic = DefaultReadingsTopic
	}
	if c.LabelsTopic == "" {
		c.LabelsTopic = DefaultLabelsTopic
	}
	if c.Group == "" {
		c.Group = fmt.Sprintf("edgepm-train-%d-%d-%d-%d", c.From.UnixMilli(), c.To.UnixMilli(), os.Getpid(), time.Now().UnixNano())
	}
	c.Window = c.Window.WithDefaults()
	return c
}

func (c Config) validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("brokers: none given")
	case c.From.IsZero() || c.To.IsZero() || !c.From.Before(c.To):
		return fmt.Errorf("time range: want from before to, got %s to %s", c.From.UTC().Format(time.RFC3339), c.To.UTC().Format(time.RFC3339))
	case c.Plan == nil:
		return errors.New("features: no plan")
	case c.Horizon <= 0:
		return fmt.Errorf("horizon: must be > 0, got %s", c.Horizon)
	case c.Every < 0:
		return fmt.Errorf("every: must be >= 0, got %s", c.Every)
	}
	if err := c.Window.Validate(); err != nil {
		return fmt.Errorf("window: %w", err)
	}
	return nil
}
