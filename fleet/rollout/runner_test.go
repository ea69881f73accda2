package rollout

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/edgepm/edgepm/models"
)

// fixture is a kfake broker with versions 1.0.0 (pushed, signed) and
// 2.0.0 (in canary to gw-1 and gw-2 with the rule on) of the default model.
type fixture struct {
	cfg  bridge.Config
	op   *Operator
	rec  *Record
	prod *kgo.Client
}

func newFixture(t *testing.T, window time.Duration) *fixture {
	t.Helper()
	seeds := testenv.StartKafka(t).Seeds()
	cfg := bridge.Config{Brokers: seeds}
	pub, priv := testKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op := &Operator{Store: NewStore(cfg, []ed25519.PublicKey{pub}, nil), Releases: BridgeReleases{Kafka: cfg}, Priv: priv}
	if _, err := bridge.PublishModel(ctx, cfg, testPackage(t, "1.0.0", priv), 0, nil, bridge.WithReleaseKey(priv)); err != nil {
		t.Fatal(err)
	}
	stable, _, err := op.Releases.Current(ctx, "edgepm-default")
	if err != nil || stable != "1.0.0" {
		t.Fatalf("current %q %v", stable, err)
	}
	plan, err := op.PlanCanary("edgepm-default", "2.0.0", stable, "gw-1,gw-2", []string{"gw-1", "gw-2", "gw-3"},
		Rule{Enabled: true, WindowSeconds: window.Seconds()})
	if err != nil {
		t.Fatal(err)
	}
	env, err := bridge.PublishModel(ctx, cfg, testPackage(t, "2.0.0", priv), 0, nil, bridge.WithReleaseKey(priv), bridge.WithRelease(plan.Release))
	if err != nil {
		t.Fatal(err)
	}
	written, err := Written(env)
	if err != nil || written.Action != bridge.ActionCanary || written.Stable != "1.0.0" {
		t.Fatalf("canary release %+v %v", written, err)
	}
	if err := op.Commit(ctx, plan.Record, written); err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return &fixture{cfg: cfg, op: op, rec: plan.Record, prod: prod}
}

func testPackage(t *testing.T, version string, priv ed25519.PrivateKey) *modelpkg.Package {
	t.Helper()
	mb, onnx := models.Default()
	var man modelpkg.Manifest
	if err := json.Unmarshal(mb, &man); err != nil {
		t.Fatal(err)
	}
	man.Version = version
	pkg, err := modelpkg.NewPackage(&man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	if err := modelpkg.Sign(pkg, priv); err != nil {
		t.Fatal(err)
	}
	return pkg
}

func (f *fixture) event(t *testing.T, gw, typ string, detail map[string]any) {
	t.Helper()
	v := wire.EncodeEvent(gw, typ, time.Now(), detail)
	if err := f.prod.ProduceSync(context.Background(), &kgo.Record{Topic: "edgepm.events", Key: []byte(gw), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// runUntil runs a runner until the record of the fixture's model reaches a
// final state, and returns it.
func (f *fixture) runUntil(t *testing.T, tick time.Duration) *Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	r := NewRunner(RunnerConfig{Kafka: f.cfg, Group: "g-" + t.Name(), Tick: tick}, f.op, nil)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for ctx.Err() == nil {
		rec, err := f.op.Store.Latest(ctx, f.rec.Name)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if rec != nil && !rec.Active() {
			return rec
		}
	}
	t.Fatal("the rollout did not leave the canary state")
	return nil
}

func TestRunnerPromotes(t *testing.T) {
	f := newFixture(t, 2*time.Second)
	for _, gw := range []string{"gw-1", "gw-2"} {
		f.event(t, gw, wire.EventModelActivated, map[string]any{"model": "edgepm-default", "version": "2.0.0"})
	}
	f.event(t, "gw-3", wire.EventModelRejected, map[string]any{"model": "edgepm-default", "version": "2.0.0", "reason": "outside"})
	rec := f.runUntil(t, 200*time.Millisecond)
	if rec.State != StatePromoted || len(rec.History) != 2 || rec.Counter <= f.rec.Counter {
		t.Fatalf("record %+v", rec)
	}
	_, cur, err := f.op.Releases.Current(context.Background(), "edgepm-default")
	if err != nil || cur.Action != bridge.ActionPromote || cur.Version != "2.0.0" || cur.Canary != nil || cur.Counter != rec.Counter {
		t.Fatalf("release after promotion %+v %v", cur, err)
	}
}

func TestRunnerAbortsOnRejection(t *testing.T) {
	f := newFixture(t, time.Hour) // the rejection aborts long before the window ends
	f.event(t, "gw-1", wire.EventModelActivated, map[string]any{"model": "edgepm-default", "version": "2.0.0"})
	f.event(t, "gw-2", wire.EventModelRejected, map[string]any{"model": "edgepm-default", "version": "2.0.0", "reason": "samples", "error": "output differs"})
	rec := f.runUntil(t, 200*time.Millisecond)
	if rec.State != StateAborted || rec.History[1].Reason != "gateway gw-2 rejected edgepm-default:2.0.0: samples: output differs" {
		t.Fatalf("record %+v", rec)
	}
	_, cur, err := f.op.Releases.Current(context.Background(), "edgepm-default")
	if err != nil || cur.Action != bridge.ActionAbort || cur.Version != "1.0.0" || cur.Canary != nil {
		t.Fatalf("release after abort %+v %v", cur, err)
	}
}

func TestRunnerAbortsOnTimeout(t *testing.T) {
	f := newFixture(t, time.Second)
	f.event(t, "gw-1", wire.EventModelActivated, map[string]any{"model": "edgepm-default", "version": "2.0.0"})
	rec := f.runUntil(t, 200*time.Millisecond)
	if rec.State != StateAborted || rec.History[1].Reason == "" {
		t.Fatalf("record %+v", rec)
	}
}

// A rollout whose pointer moved on (a later push) is not promoted over it.
func TestApplyRefusesStaleRollout(t *testing.T) {
	f := newFixture(t, time.Hour)
	ctx := context.Background()
	if _, err := f.op.Releases.Publish(ctx, &bridge.Release{Schema: 1, Name: "edgepm-default", Action: bridge.ActionPush, Version: "1.0.0"}, f.op.Priv); err != nil {
		t.Fatal(err)
	}
	if err := f.op.Apply(ctx, f.rec, Decision{Action: Promote, Reason: "x"}); !errors.Is(err, ErrSuperseded) {
		t.Fatal("promoted a stale rollout")
	}
	if _, err := f.op.Promote(ctx, "other", ""); !errors.Is(err, ErrNotActive) {
		t.Fatalf("promote without a rollout: %v", err)
	}
}
