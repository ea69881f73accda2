package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/buffer"
)

// queue is what the producer needs from the buffer (a *buffer.Queue).
type queue interface {
	Read(stream string, after uint64, max int) ([]buffer.Record, error)
	Ack(stream string, upTo uint64) error
	Append(ctx context.Context, recs []buffer.Record) error
	Stats() buffer.Stats
}

// Producer drains every buffer stream to its Kafka topic and deletes records
// from the buffer only after Kafka acknowledged them. See the package doc for
// its guarantees.
type Producer struct {
	cfg    Config
	log    *slog.Logger
	q      queue
	client *kgo.Client
	m      *metrics
	gwHdr  []byte

	streams []*stream // drain order
	byName  map[string]*stream

	wake  chan struct{} // slots freed, link came up: pump looks again
	probe chan struct{} // an ack arrived while offline: monitor probes now

	mu       sync.Mutex
	inflight int        // (mu) records handed to kgo, promise not yet called
	link     linkState  // (mu)
	running  bool       // (mu)
	closed   bool       // (mu)
	bstat    backlogAgg // (mu) refreshed by the status loop
	rate     *ackRate   // (mu)

	drops        map[dropKey]*dropAgg // (mu) dropped records not yet reported
	dropsFlushed time.Time            // (mu)

	limiter *tokenBucket // backlog rate limit (own lock: SetBacklogLimits)
	// now is the clock of the pump: the backlog rate limit and the retry
	// backoff of a stream (time.Now; tests inject a manual clock).
	now func() time.Time

	closeOnce sync.Once
	closeErr  error
}

// NewProducer returns a producer for q's streams. It does not contact Kafka:
// an unreachable cluster at start-up does not block it (Run keeps trying).
// log nil discards logs, reg nil registers no metrics.
func NewProducer(q *buffer.Queue, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Producer, error) {
	if q == nil {
		return nil, fmt.Errorf("new producer: %w: nil buffer", ErrInvalidConfig)
	}
	return newProducer(q, q.Stats(), cfg, log, reg)
}

func newProducer(q queue, st buffer.Stats, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	cfg = cfg.WithDefaults()
	log = discardIfNil(log).With("component", "bridge")
	opts, err := clientOpts(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	popts, err := producerOpts(cfg)
	if err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	client, err := kgo.NewClient(append(opts, popts...)...)
	if err != nil {
		return nil, fmt.Errorf("new producer: kafka client: %w", err)
	}
	p := &Producer{
		cfg:     cfg,
		log:     log,
		q:       q,
		client:  client,
		gwHdr:   []byte(cfg.GatewayID),
		byName:  map[string]*stream{},
		wake:    make(chan struct{}, 1),
		probe:   make(chan struct{}, 1),
		limiter: newTokenBucket(cfg.Backlog.RateLimit, float64(cfg.Backlog.ByteRateLimit), time.Now()),
		now:     time.Now,
		rate:    &ackRate{},
		drops:   map[dropKey]*dropAgg{},
	}
	p.link.state = StateConnecting
	p.link.since = time.Now()
	for _, name := range streamNames(st) {
		s := &stream{name: name, topic: cfg.Topic(name), nameHdr: []byte(name)}
		s.start(st.Streams[name])
		p.streams = append(p.streams, s)
		p.byName[name] = s
	}
	p.m = newMetrics(reg, p)
	for _, s := range p.streams {
		s.ackedC = p.m.acked.WithLabelValues(s.name) // looked up once, not per record
	}
	return p, nil
}

// streamNames orders the buffer's streams by drain priority: the buffer's
// stream priority, highest first (alerts, events, predictions, deadletter,
// readings by default), then by name.
func streamNames(st buffer.Stats) []string {
	names := make([]string, 0, len(st.Streams))
	for n := range st.Streams {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if pa, pb := st.Streams[a].Options.Priority, st.Streams[b].Options.Priority; pa != pb {
			return pb - pa
		}
		return strings.Compare(a, b)
	})
	return names
}

// Run drains the buffer to Kafka until ctx ends, then waits up to
// Config.ShutdownTimeout for in-flight records to be acknowledged, deletes
// what was acknowledged from the buffer and returns nil. Records still
// unacknowledged stay in the buffer and are sent again by the next Run
// (at-least-once). Kafka being unreachable is not an error: Run keeps
// probing with backoff and jitter. Run may be called once.
func (p *Producer) Run(ctx context.Context) error {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return ErrClosed
	case p.running:
		p.mu.Unlock()
		return ErrRunning
	}
	p.running = true
	p.mu.Unlock()

	// prodCtx outlives ctx by the shutdown grace, so in-flight records can
	// still be acknowledged after ctx ends.
	prodCtx, cancelProd := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelProd()

	var wg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { p.acker(bgCtx) })
	wg.Go(func() { p.statusLoop(bgCtx) })
	wg.Go(func() { p.monitor(ctx) })

	p.pump(ctx, prodCtx)

	p.settle(cancelProd)
	stopBg()
	wg.Wait()
	p.flushAcks()
	p.flushDrops(time.Now(), true)
	return nil
}

// SetBacklogLimits changes Config.Backlog of a running (or not yet running)
// producer: at most rate backlog records/s and byteRate backlog bytes/s, 0
// = unlimited. It takes effect at the pump's next dispatch. A negative or
// NaN value leaves that limit as it was and is logged. Safe for concurrent
// use (the edge calls it when the configuration is reloaded).
func (p *Producer) SetBacklogLimits(rate float64, byteRate int64) {
	cur, curBytes := p.limiter.limits()
	if rate < 0 || math.IsNaN(rate) {
		p.log.Error("backlog rate limit unchanged: must be >= 0", "got", rate, "kept", cur)
		rate = cur
	}
	if byteRate < 0 {
		p.log.Error("backlog byte rate limit unchanged: must be >= 0", "got", byteRate, "kept", curBytes)
		byteRate = int64(curBytes)
	}
	if math.IsInf(rate, 1) {
		rate = 0
	}
	p.limiter.set(rate, float64(byteRate), p.now())
	p.log.Info("backlog rate limits set", "records_per_s", rate, "bytes_per_s", byteRate)
	p.poke()
}

// settle waits for in-flight records after the pump stopped: up to
// ShutdownTimeout for acknowledgements, then aborts what kgo still buffers.
func (p *Producer) settle(cancelProd context.CancelFunc) {
	if p.waitInflight(p.cfg.ShutdownTimeout) {
		return
	}
	cancelProd()
	p.client.UnsafeAbortBufferedRecords()
	if !p.waitInflight(time.Second) {
		p.log.Warn("records still in flight at shutdown; they stay buffered and are sent again", "inflight", p.inflightCount())
	}
}

func (p *Producer) waitInflight(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for p.inflightCount() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func (p *Producer) inflightCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight
}

// Close closes the Kafka client. Call it after Run returned; records still
// in flight are failed and stay in the buffer. Idempotent.
func (p *Producer) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.client.Close()
	})
	return p.closeErr
}

// poke wakes the pump without blocking.
func (p *Producer) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
