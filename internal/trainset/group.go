package trainset

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// worker extracts one assigned partition on its own goroutine.
type worker struct {
	id    int32
	end   int64
	ch    chan []*kgo.Record
	quit  chan struct{} // closed on revoke: stop, drop the rows
	exit  chan struct{} // closed when the goroutine returns
	state *partition
}

// group is one member's view of the extraction: its assigned partitions,
// their workers, and what the finished ones produced.
type group struct {
	cfg    *Config
	labels labelIndex
	spans  map[int32]span
	adm    *kadm.Client // offsets of the group (not the group's own client)

	mu         sync.Mutex
	workers    map[int32]*worker
	done       map[int32]bool  // assigned partitions read to their end (or with nothing to read)
	commit     map[int32]int64 // finished, offset not yet committed
	assigned   bool            // a first assignment happened
	cancelPoll context.CancelFunc
	err        error
	rows       []Row
	counts     Counts
	seen       map[string]bool
}

func newGroup(cfg *Config, labels labelIndex, spans map[int32]span, adm *kadm.Client) *group {
	return &group{cfg: cfg, labels: labels, spans: spans, adm: adm, workers: map[int32]*worker{},
		done: map[int32]bool{}, commit: map[int32]int64{}, seen: map[string]bool{}}
}

// onAssigned starts a worker per newly assigned partition that has records
// left to read; a partition the group already committed at its end, or an
// empty one, is done at once.
func (g *group) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	committed, err := g.adm.FetchOffsets(ctx, g.cfg.Group)
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.wake() // runs before the unlock: the loop checks whether the member is finished
	g.assigned = true
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) && g.err == nil {
		g.err = fmt.Errorf("fetch offsets of group %s: %w", g.cfg.Group, err)
	}
	for _, p := range assigned[g.cfg.ReadingsTopic] {
		s := g.spans[p]
		if o, ok := committed.Lookup(g.cfg.ReadingsTopic, p); s.empty() || (ok && o.Err == nil && o.At >= s.end) {
			g.done[p] = true
			continue
		}
		st, err := newPartition(g.cfg, g.labels)
		if err != nil {
			g.err = err
			return
		}
		w := &worker{id: p, end: s.end, ch: make(chan []*kgo.Record, 4), quit: make(chan struct{}),
			exit: make(chan struct{}), state: st}
		g.workers[p] = w
		delete(g.done, p)
		go g.run(w)
	}
}

// onRevoked stops the workers of the revoked partitions (their rows are
// dropped unless they finished) and commits the finished ones, so that
// their next owner does not read them again.
func (g *group) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	g.stopPartitions(revoked)
	g.commitFinished(ctx, cl)
}

// onLost stops the workers of partitions lost without a clean revoke (the
// member's session expired): no commit is possible any more.
func (g *group) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	g.stopPartitions(lost)
}

func (g *group) stopPartitions(revoked map[string][]int32) {
	g.mu.Lock()
	var stopped []*worker
	for _, p := range revoked[g.cfg.ReadingsTopic] {
		if w := g.workers[p]; w != nil {
			close(w.quit)
			stopped = append(stopped, w)
			delete(g.workers, p)
		}
		delete(g.done, p)
	}
	g.mu.Unlock()
	for _, w := range stopped {
		<-w.exit
	}
}

// run feeds the worker's records to its partition state until the end
// offset, then hands the rows over.
func (g *group) run(w *worker) {
	defer close(w.exit)
	for {
		select {
		case <-w.quit:
			return
		case recs := <-w.ch:
			for _, r := range recs {
				if r.Offset >= w.end {
					continue
				}
				if err := w.state.add(r); err != nil {
					g.fail(err)
					return
				}
				if r.Offset+1 >= w.end {
					g.finish(w)
					return
				}
			}
		}
	}
}

func (g *group) finish(w *worker) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-w.quit:
		return // revoked meanwhile: its next owner reads it again
	default:
	}
	g.rows = append(g.rows, w.state.rows...)
	g.counts.add(w.state.finish())
	for d := range w.state.devs {
		g.seen[d] = true
	}
	g.done[w.id] = true
	g.commit[w.id] = w.end
	delete(g.workers, w.id)
	g.wake()
}

func (g *group) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
	}
	g.wake()
}

// wake interrupts the poll so that the loop sees a change. Called with mu held.
func (g *group) wake() {
	if g.cancelPoll != nil {
		g.cancelPoll()
	}
}

// feed hands fetched records to their partition's worker (records of
// partitions without a worker are not ours, or done: dropped).
func (g *group) feed(p int32, recs []*kgo.Record) {
	g.mu.Lock()
	w := g.workers[p]
	g.mu.Unlock()
	if w == nil || len(recs) == 0 {
		return
	}
	select {
	case w.ch <- recs:
	case <-w.quit:
	case <-w.exit:
	}
}

// commitFinished commits the end offsets of the partitions finished since
// the last commit.
func (g *group) commitFinished(ctx context.Context, cl *kgo.Client) {
	g.mu.Lock()
	offs := map[int32]kgo.EpochOffset{}
	for p, o := range g.commit {
		offs[p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	clear(g.commit)
	g.mu.Unlock()
	if len(offs) == 0 {
		return
	}
	var cerr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{g.cfg.ReadingsTopic: offs},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = commitError(resp, err)
		})
	if cerr != nil {
		g.fail(fmt.Errorf("commit offsets of group %s: %w", g.cfg.Group, cerr))
	}
}

// next arms the poll's cancel function and reports whether the member is
// finished (every assigned partition done) or failed.
func (g *group) next(cancel context.CancelFunc) (finished bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return true, g.err
	}
	if g.assigned && len(g.workers) == 0 && len(g.done) > 0 {
		return true, nil
	}
	g.cancelPoll = cancel
	return false, nil
}

// idle reports whether the member has no partition to work on.
func (g *group) idle() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.workers) == 0
}

// groupDone reports whether the group has committed every non-empty
// partition at its end offset: nothing is left for this member (one
// started with more members than partitions, or whose partitions others
// finished).
func (g *group) groupDone(ctx context.Context) (bool, error) {
	committed, err := g.adm.FetchOffsets(ctx, g.cfg.Group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return false, nil // not formed yet: nothing committed
	}
	if err != nil {
		return false, fmt.Errorf("fetch offsets of group %s: %w", g.cfg.Group, err)
	}
	for p, s := range g.spans {
		if o, ok := committed.Lookup(g.cfg.ReadingsTopic, p); !s.empty() && (!ok || o.Err != nil || o.At < s.end) {
			return false, nil
		}
	}
	return true, nil
}

// stop stops every worker (on failure or cancellation) and waits for them.
func (g *group) stop() {
	g.mu.Lock()
	ws := make([]*worker, 0, len(g.workers))
	for p, w := range g.workers {
		close(w.quit)
		ws = append(ws, w)
		delete(g.workers, p)
	}
	g.mu.Unlock()
	for _, w := range ws {
		<-w.exit
	}
}

func commitError(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil || resp == nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("partition %d: %w", p.Partition, err)
			}
		}
	}
	return nil
}
