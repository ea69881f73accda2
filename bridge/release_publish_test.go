package bridge

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/edgepm/edgepm/internal/testenv"
)

// TestPublishReleaseCounters: signed pushes, a canary release, a rollback
// and a plain push each write what the topic then shows, with counters
// taken from the topic, and a stale counter or a version not on the topic
// are refused before anything is written.
func TestPublishReleaseCounters(t *testing.T) {
	srv := testenv.StartKafka(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	cfg := Config{Brokers: srv.Seeds(), GatewayID: "gw-test"}
	ctx := context.Background()

	if rel, err := LatestRelease(ctx, cfg, "pump-health"); rel != nil || err != nil {
		t.Fatalf("empty topic: %+v %v", rel, err)
	}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if _, err := PublishModel(ctx, cfg, testPackage(t, v, randomBytes(4096, 1), priv), 0, nil, WithReleaseKey(priv)); err != nil {
			t.Fatal(err)
		}
	}
	rel := latest(t, cfg)
	if rel.Counter != 2 || rel.Action != ActionPush || rel.Version != "2.0.0" {
		t.Fatalf("after two pushes: %+v", rel)
	}

	canary := &Release{Name: "pump-health", Action: ActionCanary, Version: "2.0.0", Stable: "1.0.0",
		Canary: &Selector{Gateways: []string{"gw-1"}}, Rollout: "r1"}
	env, err := PublishRelease(ctx, cfg, canary, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := VerifyRelease(env.Release, env.ReleaseSignature, []ed25519.PublicKey{pub}); err != nil || got.Counter != 3 || env.Schema != 2 {
		t.Fatalf("canary pointer: schema %d, %+v, %v", env.Schema, got, err)
	}
	if canary.Counter != 0 {
		t.Fatal("PublishRelease modified its argument")
	}
	stale := *canary
	stale.Counter = 3
	if _, err := PublishRelease(ctx, cfg, &stale, priv, nil); err == nil || !strings.Contains(err.Error(), "replay") {
		t.Fatalf("stale counter: %v", err)
	}
	missing := &Release{Name: "pump-health", Action: ActionShadow, Version: "2.0.0", Shadow: "9.9.9"}
	if _, err := PublishRelease(ctx, cfg, missing, priv, nil); err == nil || !strings.Contains(err.Error(), "9.9.9 not on the topic") {
		t.Fatalf("missing shadow: %v", err)
	}
	if _, err := PublishRelease(ctx, cfg, &Release{Name: "other", Action: ActionPush, Version: "1.0.0"}, priv, nil); !errors.Is(err, ErrNoModel) {
		t.Fatalf("unknown model: %v", err)
	}

	env, err = RollbackModel(ctx, cfg, "pump-health", "1.0.0", nil, WithReleaseKey(priv))
	if err != nil || env.RolledBackFrom != "2.0.0" {
		t.Fatalf("rollback: %+v %v", env, err)
	}
	if rel := latest(t, cfg); rel.Counter != 4 || rel.Action != ActionRollback || rel.Version != "1.0.0" {
		t.Fatalf("after rollback: %+v", rel)
	}

	// Without a key: a schema 1 pointer, no release, as before.
	env, err = RollbackModel(ctx, cfg, "pump-health", "2.0.0", nil)
	if err != nil || env.Schema != 1 || env.Release != nil {
		t.Fatalf("unsigned rollback: %+v %v", env, err)
	}
	if rel, err := LatestRelease(ctx, cfg, "pump-health"); rel != nil || err != nil {
		t.Fatalf("after an unsigned pointer: %+v %v", rel, err)
	}
	// The highest counter read on the topic still counts.
	if _, err := PublishRelease(ctx, cfg, &Release{Name: "pump-health", Action: ActionPush, Version: "2.0.0"}, priv, nil); err != nil {
		t.Fatal(err)
	}
	if rel := latest(t, cfg); rel.Counter != 5 {
		t.Fatalf("counter after an unsigned pointer: %+v", rel)
	}
}

func latest(t *testing.T, cfg Config) *Release {
	t.Helper()
	rel, err := LatestRelease(context.Background(), cfg, "pump-health")
	if err != nil || rel == nil {
		t.Fatalf("latest release: %+v %v", rel, err)
	}
	return rel
}
