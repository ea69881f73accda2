package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Payload formats.
const (
	FormatObject   = "object"   // one v1 JSON object per reading
	FormatBatch    = "batch"    // {"readings":[...]} of BatchSize readings of one device
	FormatWaveform = "waveform" // one vibration waveform block per reading
)

// FormatNames lists the payload formats a Publisher writes.
func FormatNames() []string {
	names := []string{FormatObject, FormatBatch, FormatWaveform}
	for n := range encoders {
		names = append(names, n)
	}
	slices.Sort(names[3:])
	return names
}

// PublisherConfig configures a Publisher. Zero values mean the defaults.
type PublisherConfig struct {
	// Format is FormatObject (default), FormatBatch, FormatWaveform, or an
	// Encoder's name (FormatFlat, FormatTelegraf; see encoders).
	Format    string
	BatchSize int // readings per batch message (default 10)
	// TopicTemplate, Site and Line name the telemetry topic (Topic);
	// defaults DefaultTopicTemplate, DefaultSite, DefaultLine.
	TopicTemplate, Site, Line string
	// RateDevices, when > 0, is the number of readings per tick Rate was
	// computed for: when a tick yields another number (machines added
	// part-way), the rate is scaled by it, so simulated time keeps its pace.
	RateDevices int
	// Rate is the target aggregate rate in messages per second; <= 0 means
	// as fast as the sink takes them.
	Rate float64
	// Count stops the run after this many telemetry messages (0 = no limit).
	Count int64
	// Faults, if non-nil, injects faults (object format only).
	Faults *Injector
	// Truth, if non-nil, receives one AppendTruth JSON line per published
	// reading. TruthTopic, if set, is a topic template: the same line is
	// published there through the sink (not counted in Count or Rate).
	Truth      io.Writer
	TruthTopic string
	// Labels, if non-nil, observes every reading's truth and files the
	// failure and maintenance labels, delayed (Labeler). Its send errors
	// count in PublisherStats.Errors.
	Labels *Labeler
	// WaveformRate and WaveformSamples shape FormatWaveform blocks
	// (defaults 25600 Hz, 1024 samples).
	WaveformRate, WaveformSamples int
}

// PublisherStats are a Publisher's counters.
type PublisherStats struct {
	Sent     int64 // telemetry messages handed to the sink
	Errors   int64 // sink errors
	Readings int64 // readings taken from the source
	Elapsed  time.Duration
}

// Publisher moves readings from a Source to a Sink at a target rate,
// encoding them in the configured format and injecting faults.
type Publisher struct {
	src     Source
	sink    Sink
	cfg     PublisherConfig
	log     *slog.Logger
	limiter *Limiter
	truth   *bufio.Writer
	topics  map[string]string
	batches map[string][]Reading
	burst   int
	msgs    []Message
	line    []byte
	enc     Encoder // nil for the formats the switch in publishReading writes

	tickDevices int // readings in the last tick (RateDevices pacing)

	sent, errs, readings atomic.Int64
	started              time.Time
	elapsed              atomic.Int64
}

// NewPublisher validates cfg. log may be nil.
func NewPublisher(src Source, sink Sink, cfg PublisherConfig, log *slog.Logger) (*Publisher, error) {
	if cfg.Format == "" {
		cfg.Format = FormatObject
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 10
	}
	if cfg.Site == "" {
		cfg.Site = DefaultSite
	}
	if cfg.Line == "" {
		cfg.Line = DefaultLine
	}
	if cfg.WaveformRate == 0 {
		cfg.WaveformRate = 25600
	}
	if cfg.WaveformSamples == 0 {
		cfg.WaveformSamples = 1024
	}
	mkEncoder, isEncoder := encoders[cfg.Format]
	switch {
	case cfg.Format != FormatObject && cfg.Format != FormatBatch && cfg.Format != FormatWaveform && !isEncoder:
		return nil, fmt.Errorf("new publisher: %w: format: must be one of %s, got %q", ErrConfig, strings.Join(FormatNames(), ", "), cfg.Format)
	case cfg.BatchSize < 0:
		return nil, fmt.Errorf("new publisher: %w: batch_size: must be > 0, got %d", ErrConfig, cfg.BatchSize)
	case cfg.Count < 0:
		return nil, fmt.Errorf("new publisher: %w: count: must be >= 0, got %d", ErrConfig, cfg.Count)
	case cfg.Faults.Enabled() && cfg.Format != FormatObject:
		return nil, fmt.Errorf("new publisher: %w: faults need format object, got %q", ErrConfig, cfg.Format)
	case cfg.WaveformRate < 0 || cfg.WaveformSamples < 0:
		return nil, fmt.Errorf("new publisher: %w: waveform rate and samples must be > 0", ErrConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{src: src, sink: sink, cfg: cfg, log: log, limiter: NewLimiter(cfg.Rate),
		topics: map[string]string{}, batches: map[string][]Reading{}}
	if isEncoder {
		p.enc = mkEncoder(cfg)
	}
	if cfg.Truth != nil {
		p.truth = bufio.NewWriterSize(cfg.Truth, 256<<10)
	}
	return p, nil
}

// Stats returns the counters; safe to call while Run runs.
func (p *Publisher) Stats() PublisherStats {
	el := time.Duration(p.elapsed.Load())
	if el == 0 && !p.started.IsZero() {
		el = time.Since(p.started)
	}
	return PublisherStats{Sent: p.sent.Load(), Errors: p.errs.Load(), Readings: p.readings.Load(), Elapsed: el}
}

// errDone ends the loop when Count is reached.
var errDone = errors.New("count reached")

// Run publishes until the source is exhausted (then it flushes held
// out-of-order messages and partial batches and returns nil), Count
// messages were sent (returns nil; exactly Count messages) or ctx ends
// (returns ctx.Err()). It does not close the sink.
func (p *Publisher) Run(ctx context.Context) error {
	p.started = time.Now()
	defer func() { p.elapsed.Store(int64(time.Since(p.started))) }()
	err := p.loop(ctx)
	switch {
	case err == nil:
		err = p.flush(ctx)
	case errors.Is(err, errDone): // Count is exact: nothing more is sent
		err = nil
	}
	if p.truth != nil {
		if ferr := p.truth.Flush(); ferr != nil {
			err = errors.Join(err, fmt.Errorf("write truth: %w", ferr))
		}
	}
	return err
}

func (p *Publisher) loop(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rs, ok := p.src.Next()
		if !ok {
			return nil
		}
		p.pace(len(rs))
		for i := range rs {
			p.readings.Add(1)
			if err := p.publishReading(ctx, rs[i]); err != nil {
				return err
			}
		}
	}
}

// pace scales the rate to n readings per tick (PublisherConfig.RateDevices).
func (p *Publisher) pace(n int) {
	if p.cfg.RateDevices <= 0 || p.cfg.Rate <= 0 || n == 0 || n == p.tickDevices {
		return
	}
	if p.tickDevices != 0 || n != p.cfg.RateDevices {
		p.limiter.SetRate(p.cfg.Rate * float64(n) / float64(p.cfg.RateDevices))
	}
	p.tickDevices = n
}

func (p *Publisher) topic(r Reading) string {
	t, ok := p.topics[r.Device]
	if !ok {
		t = Topic(p.cfg.TopicTemplate, p.cfg.Site, p.cfg.Line, r.Device, r.Class)
		p.topics[r.Device] = t
	}
	return t
}

func (p *Publisher) publishReading(ctx context.Context, r Reading) error {
	if err := p.writeTruth(ctx, r); err != nil {
		return err
	}
	if p.cfg.Labels != nil {
		if err := p.cfg.Labels.Observe(ctx, r); err != nil {
			p.sendError(err)
		}
	}
	topic := p.topic(r)
	p.msgs = p.msgs[:0]
	switch {
	case p.enc != nil:
		p.msgs = p.enc.Encode(p.msgs, topic, r)
	case p.cfg.Format == FormatBatch:
		b := append(p.batches[r.Device], r)
		if len(b) < p.cfg.BatchSize {
			p.batches[r.Device] = b
			return nil
		}
		p.msgs = append(p.msgs, Message{Topic: topic, Payload: EncodeBatch(b)})
		p.batches[r.Device] = b[:0]
	case p.cfg.Format == FormatWaveform:
		p.msgs = append(p.msgs, Message{Topic: topic, Payload: EncodeWaveform(r, p.cfg.WaveformRate, p.cfg.WaveformSamples)})
	case p.cfg.Faults.Enabled():
		p.msgs = p.cfg.Faults.Apply(r, topic, p.msgs)
	default:
		p.msgs = append(p.msgs, Message{Topic: topic, Payload: EncodePayload(r)})
	}
	return p.send(ctx, p.msgs)
}

func (p *Publisher) send(ctx context.Context, msgs []Message) error {
	for _, m := range msgs {
		if m.Payload == nil {
			p.control(ctx, m)
			continue
		}
		if p.burst > 0 {
			if p.burst--; p.burst == 0 {
				p.limiter.Reset()
			}
		} else if err := p.limiter.Wait(ctx, 1); err != nil {
			return err
		}
		if err := p.sink.Send(ctx, m.Topic, m.Payload); err != nil {
			p.sendError(err)
		}
		if n := p.sent.Add(1); p.cfg.Count > 0 && n >= p.cfg.Count {
			return errDone
		}
	}
	return nil
}

func (p *Publisher) control(ctx context.Context, m Message) {
	switch m.Fault {
	case FaultBurst:
		p.burst += m.Burst
		p.log.Debug("fault: burst", "messages", m.Burst)
	case FaultDisconnect:
		st, ok := p.sink.(Stormer)
		if !ok {
			return
		}
		p.log.Debug("fault: disconnect storm", "cycles", m.Cycles)
		if err := st.Storm(ctx, m.Cycles); err != nil {
			p.sendError(err)
		}
		p.limiter.Reset()
	}
}

func (p *Publisher) sendError(err error) {
	n := p.errs.Add(1)
	if n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th, ... error
		p.log.Warn("publish failed", "err", err, "errors", n)
	}
}

func (p *Publisher) writeTruth(ctx context.Context, r Reading) error {
	if p.truth == nil && p.cfg.TruthTopic == "" {
		return nil
	}
	p.line = AppendTruth(p.line[:0], r)
	if p.cfg.TruthTopic != "" {
		t := Topic(p.cfg.TruthTopic, p.cfg.Site, p.cfg.Line, r.Device, r.Class)
		if err := p.sink.Send(ctx, t, append([]byte(nil), p.line...)); err != nil {
			p.sendError(err)
		}
	}
	if p.truth != nil {
		p.truth.Write(p.line)
		if err := p.truth.WriteByte('\n'); err != nil {
			return fmt.Errorf("write truth: %w", err)
		}
	}
	return nil
}

// flush sends held out-of-order messages and partial batches (in device order).
func (p *Publisher) flush(ctx context.Context) error {
	var msgs []Message
	if p.cfg.Faults.Enabled() {
		msgs = p.cfg.Faults.Flush(nil)
	}
	devs := make(map[string]float64, len(p.batches))
	for d, b := range p.batches {
		if len(b) > 0 {
			devs[d] = 0
		}
	}
	for _, d := range sortedKeys(devs) {
		b := p.batches[d]
		msgs = append(msgs, Message{Topic: p.topic(b[0]), Payload: EncodeBatch(b)})
		delete(p.batches, d)
	}
	p.cfg.Count = 0 // flushing finishes what was started
	return p.send(ctx, msgs)
}
