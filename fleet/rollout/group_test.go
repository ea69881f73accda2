package rollout

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/internal/testenv"
)

// Two runners in one consumer group share the rollouts: every name is
// owned by exactly one of them; when one stops, the other takes them all.
func TestRunnersShareRollouts(t *testing.T) {
	cfg := bridge.Config{Brokers: testenv.StartKafka(t).Seeds()}
	pub, priv := testKey(t)
	op := &Operator{Store: NewStore(cfg, []ed25519.PublicKey{pub}, nil), Releases: BridgeReleases{Kafka: cfg}, Priv: priv}
	var names []string
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	for i := range 8 {
		r := testRecord()
		r.Name, r.Rule = fmt.Sprintf("model-%d", i), Rule{} // the rule off: the runners only own them
		names = append(names, r.Name)
		if err := op.Store.Write(ctx, r, priv); err != nil {
			t.Fatal(err)
		}
	}
	runners := []*Runner{
		NewRunner(RunnerConfig{Kafka: cfg, Group: "share", Tick: 100 * time.Millisecond}, op, nil),
		NewRunner(RunnerConfig{Kafka: cfg, Group: "share", Tick: 100 * time.Millisecond}, op, nil),
	}
	stops := make([]context.CancelFunc, 2)
	var wg sync.WaitGroup
	for i, r := range runners {
		rctx, stop := context.WithCancel(ctx)
		stops[i] = stop
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(rctx) }()
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	}()
	split := func() bool {
		a, b := runners[0].Owned(), runners[1].Owned()
		all := slices.Sorted(slices.Values(append(slices.Clone(a), b...)))
		return len(a) > 0 && len(b) > 0 && slices.Equal(all, names)
	}
	if !waitFor(ctx, split) {
		t.Fatalf("not shared: %v and %v", runners[0].Owned(), runners[1].Owned())
	}
	stops[0]()
	if !waitFor(ctx, func() bool { return slices.Equal(runners[1].Owned(), names) }) {
		t.Fatalf("the remaining runner owns %v, want %v", runners[1].Owned(), names)
	}
}

// waitFor polls cond every 50 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-tick.C:
		}
	}
	return true
}
