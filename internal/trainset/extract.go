package trainset

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Result is what one member extracted.
type Result struct {
	// Rows are the kept rows of the partitions this member read to their
	// end, ordered by device, then window end.
	Rows   []Row
	Counts Counts
	Labels LabelCounts
	// Failures counts the failure labels in [From, To) of the devices whose
	// readings were read.
	Failures int
	From, To time.Time // the range of the readings: [From, To)
	Group    string    // the consumer group
	labels   labelIndex
}

// FailureTimes returns the failure labels of device, ascending, from the
// whole labels topic (not only [From, To)); nil for a device without any.
func (r *Result) FailureTimes(device string) []time.Time {
	d := r.labels[device]
	if d == nil {
		return nil
	}
	out := make([]time.Time, len(d.failures))
	for i, ms := range d.failures {
		out[i] = time.UnixMilli(ms).UTC()
	}
	return out
}

// CheckFailures returns a *TooFewFailuresError when fewer than need
// failures were found.
func (r *Result) CheckFailures(need int) error {
	if r.Failures >= need {
		return nil
	}
	return &TooFewFailuresError{From: r.From, To: r.To, Found: r.Failures, Need: need}
}

// Extract reads the labels topic, then extracts this member's share of the
// readings topic in cfg.Group (doc.go). It returns when every partition
// assigned to it is done, ctx ends (ctx.Err()) or Kafka fails.
func Extract(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("training set: %w", err)
	}
	acl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return nil, fmt.Errorf("training set: %w", err)
	}
	defer acl.Close()
	adm := kadm.NewClient(acl)
	labels, lcounts, err := readLabels(ctx, cfg, adm)
	if err != nil {
		return nil, err
	}
	spans, err := listSpans(ctx, adm, cfg.ReadingsTopic)
	if err != nil {
		return nil, fmt.Errorf("readings: %w", err)
	}
	g := newGroup(&cfg, labels, spans, adm)
	if err := g.consume(ctx); err != nil {
		return nil, err
	}
	slices.SortFunc(g.rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), a.WindowEnd.Compare(b.WindowEnd))
	})
	lcounts.UnknownDeviceLabels = labels.unknown(g.seen)
	return &Result{Rows: g.rows, Counts: g.counts, Labels: lcounts, Group: cfg.Group,
		Failures: labels.failuresIn(cfg.From, cfg.To, g.seen), From: cfg.From, To: cfg.To, labels: labels}, nil
}

// consume runs the group member until its partitions are done.
func (g *group) consume(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.cfg.Brokers...), kgo.ConsumerGroup(g.cfg.Group),
		kgo.ConsumeTopics(g.cfg.ReadingsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.OnPartitionsAssigned(g.onAssigned),
		kgo.OnPartitionsRevoked(g.onRevoked), kgo.OnPartitionsLost(g.onLost))
	if err != nil {
		return fmt.Errorf("readings: %w", err)
	}
	defer cl.Close() // leaves the group
	defer g.stop()
	for {
		// The timeout lets a member without partitions notice that the
		// others have finished them all (groupDone).
		pctx, cancel := context.WithTimeout(ctx, idleCheck)
		finished, err := g.next(cancel)
		if !finished && err == nil && g.idle() {
			finished, err = g.groupDone(ctx)
		}
		if finished || err != nil {
			cancel()
			g.commitFinished(ctx, cl)
			if err == nil {
				g.mu.Lock()
				err = g.err
				g.mu.Unlock()
			}
			return err
		}
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fetchError(fs); err != nil {
			return fmt.Errorf("read %s: %w", g.cfg.ReadingsTopic, err)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) { g.feed(p.Partition, p.Records) })
		g.commitFinished(ctx, cl)
	}
}

// idleCheck is how often a member without work asks whether the group
// has finished every partition.
const idleCheck = 2 * time.Second

// fetchError returns the first fetch error other than the poll's own
// cancellation (a worker finished).
func fetchError(fs kgo.Fetches) error {
	for _, e := range fs.Errors() {
		if !errors.Is(e.Err, context.Canceled) && !errors.Is(e.Err, context.DeadlineExceeded) {
			return fmt.Errorf("partition %d: %w", e.Partition, e.Err)
		}
	}
	return nil
}
