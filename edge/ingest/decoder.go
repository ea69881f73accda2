package ingest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reading is one decoded, validated sensor reading.
type Reading struct {
	Device    string
	Fields    map[string]string // other topic captures, e.g. site, line; never modified
	Time      time.Time         // the device's timestamp, or Received when absent
	Received  time.Time         // when the gateway received the message
	DeviceSeq uint64            // the device's own counter; 0 when absent
	Values    map[string]float64
	Waveform  *Waveform // set for waveform payloads

	// ValuesJSON is Values as the JSON object the device sent, when the
	// decoder could keep its bytes (valid JSON, finite numbers, no
	// duplicate names), so an encoder can copy it instead of re-encoding
	// Values; nil otherwise. It aliases the MQTT payload.
	ValuesJSON []byte
}

// Waveform is a block of samples of one channel at a fixed rate.
type Waveform struct {
	Channel string    `json:"channel"`
	RateHz  float64   `json:"rate_hz"`
	Samples []float64 `json:"samples"`
}

// Decoder is one payload format: it turns an MQTT payload into readings.
// Each subscription has its own (mqtt.subscriptions[i].format), so a new
// format is a new Decoder, not a branch in the Pipeline.
//
// Decode appends the payload's readings to dst and returns the extended
// slice. A payload that fails decoding or validation returns nil and an
// *InvalidError naming the reason: no reading of a bad payload is returned
// (the whole message becomes one dead letter). Decode never panics on bad
// input. The readings may alias payload and the Source's memory; they are
// valid as long as both are.
//
// Decoders are immutable and safe for concurrent use, with one exception:
// a format with session state (sparkplug_b: births, aliases, seq) keeps it
// in what the Pipeline lends through Source, one per subscription, and
// the Pipeline calls decoders from its one decode goroutine. Called
// without a Pipeline, a sparkplug_b decoder keeps its own session and is
// then not safe for concurrent use.
type Decoder interface {
	Decode(dst []Reading, src Source, payload []byte) ([]Reading, error)
}

// Source is what is known about a payload besides its bytes: the match of
// its topic against the subscription's template, and when it arrived.
type Source struct {
	Device   string            // the topic's {device} level
	Fields   map[string]string // the topic's other captures (nil when none); never modified
	Received time.Time         // when the gateway received the message
	Topic    string            // the MQTT topic

	// session, when not nil, is the subscription's Sparkplug session
	// (sparkplug_b), lent by the Pipeline.
	session *spSession

	// sc, when not nil, lends the decoder value maps and interned sensor
	// names (the Pipeline's goroutine; see scratch).
	sc *scratch
}

// FormatEdgepm is edgepm's own JSON payload format, v1
// (docs/formats/mqtt-payloads.md), and the default format.
const FormatEdgepm = "edgepm"

// FormatFlat is flat JSON objects, mapped by the subscription's flat block
// (FlatMapping).
const FormatFlat = "flat"

// FormatTelegraf is Telegraf's JSON serializer output, mapped by the
// subscription's telegraf block (TelegrafMapping).
const FormatTelegraf = "telegraf"

// FormatWaveformF32LE is a raw waveform: the payload is the samples,
// float32 little-endian, described by the subscription's waveform block
// (WaveformMapping).
const FormatWaveformF32LE = "waveform_f32le"

// formats maps a format name (mqtt.subscriptions[i].format) to the
// constructor of its decoder, given the subscription (with its mapping
// block validated).
var formats = map[string]func(*rules, *Subscription) Decoder{
	FormatEdgepm:   func(r *rules, _ *Subscription) Decoder { return &edgepmDecoder{rules: r} },
	FormatFlat:     newFlatDecoder,
	FormatTelegraf: newTelegrafDecoder,

	FormatWaveformF32LE: newRawWaveformDecoder,
	FormatSparkplugB:    newSparkplugDecoder,
}

// ErrUnknownFormat is returned by NewDecoder for a format name no decoder has.
var ErrUnknownFormat = errors.New("unknown payload format")

// NewDecoder returns the decoder of a payload format ("" means
// FormatEdgepm) that validates readings by cfg (zero values are the
// documented defaults). The checks every format shares come first: the
// payload size (validation.max_payload_bytes) and the device list
// (validation.devices).
func NewDecoder(format string, cfg ValidationConfig) (Decoder, error) {
	return NewSubscriptionDecoder(Subscription{Format: format}, cfg)
}

// NewSubscriptionDecoder is NewDecoder for a subscription's format and
// mapping block (a flat or telegraf block; nil means its defaults).
func NewSubscriptionDecoder(s Subscription, cfg ValidationConfig) (Decoder, error) {
	cfg.SetDefaults()
	return newDecoder(&s, &rules{cfg: cfg})
}

func newDecoder(s *Subscription, r *rules) (Decoder, error) {
	format := s.Format
	if format == "" {
		format = FormatEdgepm
	}
	mk, ok := formats[format]
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownFormat, format, strings.Join(formatNames(), ", "))
	}
	d := mk(r, s)
	_, own := d.(payloadDevices)
	return admitting{rules: r, format: d, ownDevices: own}, nil
}

// payloadDevices is implemented by the decoders that check each reading's
// device against validation.devices themselves: those that may take it
// from the payload (flat device_field, telegraf device_tag), and
// sparkplug_b, which must see every message of an edge node, its listed
// devices or not, to track the node's seq and births.
type payloadDevices interface {
	devicesFromPayload()
}

func formatNames() []string {
	names := make([]string, 0, len(formats))
	for n := range formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// admitting runs the format-independent admission checks before a format
// decodes, so no format can skip them.
type admitting struct {
	rules      *rules
	format     Decoder
	ownDevices bool // the format checks the device list (payloadDevices)
}

func (a admitting) Decode(dst []Reading, src Source, payload []byte) ([]Reading, error) {
	if err := a.rules.admitSize(payload); err != nil {
		return nil, err
	}
	if !a.ownDevices {
		if err := a.rules.admitDevice(src.Device); err != nil {
			return nil, err
		}
	}
	return a.format.Decode(dst, src, payload)
}
