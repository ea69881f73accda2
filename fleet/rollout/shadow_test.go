package rollout

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// A shadow rollout with min_agreement is promoted by the runner when every
// shadow gateway's heartbeat reports enough agreement, the challenger then
// served everywhere.
func TestRunnerPromotesAgreeingShadow(t *testing.T) {
	seeds := testenv.StartKafka(t).Seeds()
	cfg := bridge.Config{Brokers: seeds}
	pub, priv := testKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	op := &Operator{Store: NewStore(cfg, []ed25519.PublicKey{pub}, nil), Releases: BridgeReleases{Kafka: cfg}, Priv: priv}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if _, err := bridge.PublishModel(ctx, cfg, testPackage(t, v, priv), 0, nil, bridge.WithReleaseKey(priv)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := op.Rollback(ctx, "edgepm-default", "1.0.0", ""); err != nil {
		t.Fatal(err)
	}
	minA := 0.9
	plan, err := op.PlanShadow("edgepm-default", "2.0.0", "1.0.0", "", []string{"gw-1", "gw-2"},
		Rule{Enabled: true, WindowSeconds: 1, MinAgreement: &minA})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := op.Start(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, cur, err := op.Releases.Current(ctx, "edgepm-default"); err != nil || cur.Action != bridge.ActionShadow || cur.Shadow != "2.0.0" || cur.Version != "1.0.0" {
		t.Fatalf("shadow release %+v %v", cur, err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for gw, agree := range map[string]float64{"gw-1": 0.97, "gw-2": 0.93} {
		hb := wire.Heartbeat{V: wire.HeartbeatSchema, Gateway: gw, TS: time.Now().UTC(), Conditions: []string{},
			Model:  &wire.HeartbeatModel{Name: "edgepm-default", Version: "1.0.0", State: "active"},
			Shadow: &wire.HeartbeatShadow{Name: "edgepm-default", Version: "2.0.0", State: "active", Windows: 40, AlertAgreement: &agree}}
		r, err := wire.HeartbeatRecord(&hb)
		if err != nil {
			t.Fatal(err)
		}
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "edgepm.gateways", Key: r.Key, Value: r.Value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{cfg: cfg, op: op, rec: rec}
	got := f.runUntil(t, 200*time.Millisecond)
	if got.State != StatePromoted {
		t.Fatalf("record %+v", got)
	}
	if _, cur, err := op.Releases.Current(ctx, "edgepm-default"); err != nil || cur.Action != bridge.ActionPromote || cur.Version != "2.0.0" || cur.Shadow != "" {
		t.Fatalf("release after promotion %+v %v", cur, err)
	}
}
