package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/fleet/rollout"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/wire"
)

// With --push-canary a losing challenger writes nothing to the models or
// rollouts topics ("not pushed: ..."); a winning one is published with a
// signed canary release over the selected gateways only, and its signed
// rollout record is on the rollouts topic.
func TestEvaluatePushCanary(t *testing.T) {
	po := pushOptions{Canary: "gw-1", Auto: true, Window: time.Minute, Chunk: bridge.DefaultChunkSize}
	f, ctx, op, man, before := newPushFixture(t, &po)

	push := func(champion, challenger string) string {
		t.Helper()
		eo := evalOptions{Champion: champion, Challenger: challenger}
		rep, err := f.evaluate(t, champion, challenger, "")
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := pushWinner(ctx, f.ko, eo, po, rep, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	// The loser: champion trained on the right labels, challenger on
	// shuffled ones.
	if out := push(f.good, f.bad); !strings.Contains(out, "not pushed: ") {
		t.Fatalf("loser: %q", out)
	}
	if _, cur, err := op.Releases.Current(ctx, man.Name); err != nil || cur.Counter != before.Counter || cur.Version != man.Version {
		t.Fatalf("the loser wrote to the models topic: %+v %v", cur, err)
	}
	if rec, err := op.Store.Latest(ctx, man.Name); err != nil || rec != nil {
		t.Fatalf("the loser wrote a rollout record: %+v %v", rec, err)
	}

	out := push(f.bad, f.good)
	if !strings.Contains(out, "pushed: rollout ") {
		t.Fatalf("winner: %q", out)
	}
	_, cur, err := op.Releases.Current(ctx, man.Name)
	if err != nil || cur.Action != bridge.ActionCanary || cur.Version != "2.0.0" || cur.Stable != man.Version || cur.Counter <= before.Counter {
		t.Fatalf("canary release %+v %v", cur, err)
	}
	for gw, want := range map[string]string{"gw-1": "2.0.0", "gw-2": man.Version, "gw-3": man.Version} {
		if v, _ := cur.ServedBy(gw); v != want {
			t.Errorf("%s is served %s, want %s", gw, v, want)
		}
	}
	rec, err := op.Store.Latest(ctx, man.Name)
	if err != nil || rec == nil || rec.State != "canary" || rec.Version != "2.0.0" || rec.Counter != cur.Counter ||
		strings.Join(rec.Gateways, ",") != "gw-1" || !rec.Rule.Enabled || rec.Rule.Window() != time.Minute {
		t.Fatalf("rollout record %+v %v", rec, err)
	}
	// A second winner while the canary runs is refused, not pushed over it.
	eo := evalOptions{Champion: f.bad, Challenger: f.good}
	rep, err := f.evaluate(t, f.bad, f.good, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := pushWinner(ctx, f.ko, eo, po, rep, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "still in canary") {
		t.Fatalf("second push: %v", err)
	}
}

// newPushFixture is the evaluation fixture with a fresh signing key in
// po.Key, its champion (f.bad) published with a signed release, and
// heartbeats of gw-1..gw-3 serving it; before is the champion's release.
func newPushFixture(t *testing.T, po *pushOptions) (f *evalFixture, ctx context.Context, op *rollout.Operator, man *modelpkg.Manifest, before *bridge.Release) {
	t.Helper()
	f = newEvalFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	po.Key = filepath.Join(t.TempDir(), "model.key")
	if err := os.WriteFile(po.Key, []byte(base64.StdEncoding.EncodeToString(priv)), 0o600); err != nil {
		t.Fatal(err)
	}
	op, cfg, err := po.operator(f.ko)
	if err != nil {
		t.Fatal(err)
	}
	champ, err := modelpkg.LoadPackageDir(f.bad)
	if err != nil {
		t.Fatal(err)
	}
	if man, err = champ.Decode(); err != nil {
		t.Fatal(err)
	}
	if _, err := bridge.PublishModel(ctx, cfg, champ, 0, nil, bridge.WithReleaseKey(priv)); err != nil {
		t.Fatal(err)
	}
	produceHeartbeats(ctx, t, cfg, man.Name, man.Version, "gw-1", "gw-2", "gw-3")
	if _, before, err = op.Releases.Current(ctx, man.Name); err != nil || before == nil {
		t.Fatalf("champion's release %+v %v", before, err)
	}
	return f, ctx, op, man, before
}

// produceHeartbeats writes a heartbeat serving name:version for each
// gateway to the gateways topic.
func produceHeartbeats(ctx context.Context, t *testing.T, cfg bridge.Config, name, version string, gws ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, gw := range gws {
		hb := wire.Heartbeat{V: wire.HeartbeatSchema, Gateway: gw, TS: time.Now().UTC(), Conditions: []string{},
			Model: &wire.HeartbeatModel{Name: name, Version: version, State: "active"}}
		r, err := wire.HeartbeatRecord(&hb)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: cfg.Topic(wire.StreamGateways), Key: r.Key, Value: r.Value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// --push-canary without --key is a usage error; without --push-canary
// nothing is checked.
func TestPushFlags(t *testing.T) {
	if err := (pushOptions{Canary: "1"}).check(); err != errPushNoKey {
		t.Errorf("no key: %v", err)
	}
	if err := (pushOptions{Canary: "1", Key: "k", Window: 0}).check(); err == nil || !strings.Contains(err.Error(), "--window") {
		t.Errorf("no window: %v", err)
	}
	if err := (pushOptions{}).check(); err != nil {
		t.Errorf("no push: %v", err)
	}
	if err := (pushOptions{Shadow: true}).check(); err != errPushNoKey {
		t.Errorf("shadow, no key: %v", err)
	}
	for _, po := range []pushOptions{
		{Canary: "1", Shadow: true, Key: "k", Window: time.Minute},
		{Shadow: true, Key: "k", Window: time.Minute, MinAgreement: 1.5},
		{Canary: "1", Key: "k", Window: time.Minute, MinAgreement: 0.9},
	} {
		if err := po.check(); err == nil {
			t.Errorf("%+v accepted", po)
		}
	}
}

// With --push-shadow a losing challenger writes nothing; a winning one is
// published without moving the pointer and named as the shadow of the
// served version on the --on gateways only, with its rollout record.
func TestEvaluatePushShadow(t *testing.T) {
	po := pushOptions{Shadow: true, On: "gw-2", Auto: true, Window: time.Minute, MinAgreement: 0.9, Chunk: bridge.DefaultChunkSize}
	f, ctx, op, man, before := newPushFixture(t, &po)
	push := func(champion, challenger string) string {
		t.Helper()
		rep, err := f.evaluate(t, champion, challenger, "")
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := pushWinner(ctx, f.ko, evalOptions{Champion: champion, Challenger: challenger}, po, rep, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if out := push(f.good, f.bad); !strings.Contains(out, "not pushed: ") {
		t.Fatalf("loser: %q", out)
	}
	if _, cur, err := op.Releases.Current(ctx, man.Name); err != nil || cur.Counter != before.Counter {
		t.Fatalf("the loser wrote a release: %+v %v", cur, err)
	}
	if out := push(f.bad, f.good); !strings.Contains(out, "pushed: rollout ") {
		t.Fatalf("winner: %q", out)
	}
	_, cur, err := op.Releases.Current(ctx, man.Name)
	if err != nil || cur.Action != bridge.ActionShadow || cur.Version != man.Version || cur.Shadow != "2.0.0" || cur.Counter <= before.Counter {
		t.Fatalf("shadow release %+v %v", cur, err)
	}
	for gw, want := range map[string]string{"gw-1": "", "gw-2": "2.0.0", "gw-3": ""} {
		if v, sh := cur.ServedBy(gw); v != man.Version || sh != want {
			t.Errorf("%s: serves %s with shadow %q, want %s with %q", gw, v, sh, man.Version, want)
		}
	}
	rec, err := op.Store.Latest(ctx, man.Name)
	if err != nil || rec == nil || rec.State != "shadow" || rec.Shadow != "2.0.0" || strings.Join(rec.Gateways, ",") != "gw-2" ||
		rec.Rule.MinAgreement == nil || *rec.Rule.MinAgreement != 0.9 {
		t.Fatalf("rollout record %+v %v", rec, err)
	}
}
