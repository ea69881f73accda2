package rollout

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// All keeps per name the verified record with the highest counter and
// ignores records signed by another key, filed under another name, or
// forgotten by a tombstone; a missing topic is no rollout.
func TestStoreAll(t *testing.T) {
	seeds := testenv.StartKafka(t).Seeds()
	cfg := bridge.Config{Brokers: seeds}
	pub, priv := testKey(t)
	_, stranger := testKey(t)
	s := NewStore(cfg, []ed25519.PublicKey{pub}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if all, err := s.All(ctx); err != nil || len(all) != 0 {
		t.Fatalf("missing topic: %v %v", all, err)
	}
	rec := func(name string, counter uint64) *Record {
		r := testRecord()
		r.Name, r.Counter = name, counter
		return r
	}
	for _, w := range []struct {
		r    *Record
		priv ed25519.PrivateKey
	}{{rec("a", 5), priv}, {rec("a", 4), priv}, {rec("a", 9), stranger}, {rec("b", 1), priv}, {rec("c", 1), priv}} {
		if err := s.Write(ctx, w.r, w.priv); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	misfiled, _ := Sign(rec("b", 7), priv)
	for _, r := range []*kgo.Record{{Topic: s.Topic(), Key: []byte("c")}, {Topic: s.Topic(), Key: []byte("x"), Value: misfiled}} {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["a"].Counter != 5 || all["b"].Counter != 1 {
		t.Fatalf("all: %v", all)
	}
}

// Each record written is followed by its event on the events topic:
// rollout.started for a canary or shadow, .promoted, .aborted; the values
// match their schemas.
func TestStoreWritesRolloutEvents(t *testing.T) {
	seeds := testenv.StartKafka(t).Seeds()
	cfg := bridge.Config{Brokers: seeds}
	pub, priv := testKey(t)
	s := NewStore(cfg, []ed25519.PublicKey{pub}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(cfg.WithDefaults().Topic("events")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, cfg.WithDefaults().Topic("events")); err != nil {
		t.Fatal(err)
	}
	r := testRecord()
	r.State = StateShadow
	for i, state := range []string{StateShadow, StatePromoted, StateAborted} {
		if i > 0 {
			r.Transition(state, "key-1", "rule: "+state, time.Unix(1e9, 0), uint64(10+i))
		}
		if err := s.Write(ctx, r, priv); err != nil {
			t.Fatal(err)
		}
	}
	schemas, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 3 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			if err := schemas.Validate("events", rec.Value); err != nil {
				t.Error(err)
			}
			var e wire.Event
			_ = json.Unmarshal(rec.Value, &e)
			if e.Gateway != wire.EventSourceFleet || e.Detail["rollout"] != r.ID || e.Detail["version"] != r.Version {
				t.Errorf("event %s", rec.Value)
			}
			got = append(got, e.Type+" "+e.Detail["state"].(string))
		})
	}
	want := []string{"rollout.started shadow", "rollout.promoted promoted", "rollout.aborted aborted"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}
