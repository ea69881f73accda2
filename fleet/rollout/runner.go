package rollout

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/buffer"
)

// DefaultGroup is the consumer group `edgepm fleet rollouts watch` joins.
const DefaultGroup = "edgepm-fleet-rollouts"

// RunnerConfig configures a Runner. Zero values are the defaults.
type RunnerConfig struct {
	Kafka bridge.Config
	Group string // consumer group; default DefaultGroup
	// Tick is how often active rollouts are decided; default 2 s.
	Tick time.Duration
	// Lookback is how far back the events and gateways topics are read at
	// start; default 24 h (a rollout older than that resumes on heartbeats).
	Lookback time.Duration
	Now      func() time.Time // default time.Now
}

// Runner applies the automatic rule to the rollouts of the partitions of
// the rollouts topic its consumer group assigns it: several runners share
// the rollouts, each name is decided by one. It reads every assigned
// partition from its start (no offsets are committed), so a restarted
// runner resumes from the records. Run blocks; the other methods are
// safe for concurrent use.
type Runner struct {
	cfg RunnerConfig
	op  *Operator
	log *slog.Logger

	mu    sync.Mutex
	owned map[string]*Record // name -> current record, for assigned partitions
	parts map[string]int32   // name -> partition
	fleet *fleetState
	// superseded holds the counters of rollouts whose pointer moved on
	// (ErrSuperseded): they are not retried every tick.
	superseded map[string]uint64
}

// NewRunner returns a runner that acts through op (its key signs).
func NewRunner(cfg RunnerConfig, op *Operator, log *slog.Logger) *Runner {
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 2 * time.Second
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Kafka = cfg.Kafka.WithDefaults()
	return &Runner{cfg: cfg, op: op, log: log, owned: map[string]*Record{}, parts: map[string]int32{},
		fleet: newFleetState(), superseded: map[string]uint64{}}
}

// Run consumes until ctx ends, then returns nil (or the first client error).
func (r *Runner) Run(ctx context.Context) error {
	group, err := r.groupClient()
	if err != nil {
		return err
	}
	defer group.Close()
	state, err := r.stateClient()
	if err != nil {
		return err
	}
	defer state.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.poll(ctx, group, r.addRollout) }()
	go func() { defer wg.Done(); r.poll(ctx, state, r.addState) }()
	r.decideLoop(ctx)
	cancel()
	wg.Wait()
	return nil
}

func (r *Runner) groupClient() (*kgo.Client, error) {
	topic := r.op.Store.Topic()
	return bridge.NewClient(r.cfg.Kafka, r.log, kgo.ConsumerGroup(r.cfg.Group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsRevoked(r.dropPartitions), kgo.OnPartitionsLost(r.dropPartitions))
}

func (r *Runner) stateClient() (*kgo.Client, error) {
	from := r.cfg.Now().Add(-r.cfg.Lookback).UnixMilli()
	return bridge.NewClient(r.cfg.Kafka, r.log,
		kgo.ConsumeTopics(r.cfg.Kafka.Topic(GatewaysTopic), r.cfg.Kafka.Topic(buffer.StreamEvents)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(from)), kgo.FetchMaxWait(500*time.Millisecond))
}

func (r *Runner) poll(ctx context.Context, cl *kgo.Client, fn func(*kgo.Record)) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Warn("rollouts watch: fetch", "topic", t, "partition", p, "err", err)
			}
		})
		r.mu.Lock()
		fs.EachRecord(fn)
		r.mu.Unlock()
	}
}

// addRollout keeps a rollouts record (r.mu held).
func (r *Runner) addRollout(rec *kgo.Record) {
	name := string(rec.Key)
	r.parts[name] = rec.Partition
	if rec.Value == nil {
		delete(r.owned, name)
		return
	}
	v, err := Verify(rec.Value, r.op.Store.Keys())
	if err != nil || v.Name != name {
		r.log.Warn("rollouts topic: record ignored", "model", name, "offset", rec.Offset, "err", err)
		return
	}
	if old := r.owned[name]; old != nil && v.Counter < old.Counter {
		return
	}
	r.owned[name] = v
}

// addState keeps a heartbeat or a model event (r.mu held).
func (r *Runner) addState(rec *kgo.Record) {
	if rec.Topic == r.cfg.Kafka.Topic(GatewaysTopic) {
		applyHeartbeat(r.fleet.hbs, rec)
		return
	}
	r.fleet.addEvent(rec.Value)
}

func (r *Runner) dropPartitions(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, p := range r.parts {
		if slices.Contains(lost[r.op.Store.Topic()], p) {
			delete(r.owned, name)
			delete(r.parts, name)
		}
	}
}

func (r *Runner) decideLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.decideOnce(ctx)
		}
	}
}

// decideOnce decides every owned active rollout now and acts on the decisions.
func (r *Runner) decideOnce(ctx context.Context) {
	for _, job := range r.due() {
		r.log.Info("rollout rule", "model", job.rec.Name, "rollout", job.rec.ID, "action", job.d.Action.String(), "reason", job.d.Reason)
		if err := r.op.Apply(ctx, job.rec, job.d); err != nil {
			r.log.Error("rollout rule: could not act", "model", job.rec.Name, "rollout", job.rec.ID, "err", err)
			if errors.Is(err, ErrSuperseded) { // final; anything else is retried next tick
				r.mu.Lock()
				r.superseded[job.rec.Name] = job.rec.Counter
				r.mu.Unlock()
			}
			continue
		}
		r.mu.Lock()
		if cur := r.owned[job.rec.Name]; cur == nil || cur.Counter <= job.rec.Counter {
			r.owned[job.rec.Name] = job.rec
		}
		r.mu.Unlock()
	}
}

type job struct {
	rec *Record
	d   Decision
}

// due returns copies of the owned rollouts the rule wants to act on.
func (r *Runner) due() []job {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	var out []job
	for name, rec := range r.owned {
		if c, ok := r.superseded[name]; ok && c == rec.Counter {
			continue
		}
		d := Decide(rec, r.fleet.observe(rec), now)
		if d.Action != Wait {
			cp := *rec
			cp.History = slices.Clone(rec.History)
			out = append(out, job{rec: &cp, d: d})
		}
	}
	return out
}

// Owned lists the names of the rollouts this runner decides (for tests and logs).
func (r *Runner) Owned() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.owned {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
