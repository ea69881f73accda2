package bridge

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrNoModel is returned (wrapped) by PublishRelease and RollbackModel when
// the models topic has nothing of the model name.
var ErrNoModel = errors.New("no such model on the topic")

// PublishOption changes the pointer PublishModel and RollbackModel write.
type PublishOption func(*publishOptions)

type publishOptions struct {
	key       ed25519.PrivateKey
	rel       *Release // template; nil = a plain push or rollback
	noPointer bool
}

// WithoutPointer makes PublishModel write the version's archive record and
// chunks only, not the pointer: no gateway switches; a later release names
// the version (a shadow: `edgepm model shadow`, or a canary). Old versions
// are not pruned either.
func WithoutPointer() PublishOption {
	return func(o *publishOptions) { o.noPointer = true }
}

// WithReleaseKey makes the pointer a signed release (envelope schema 2)
// signed with priv, a model-signing key: gateways with public keys
// configured refuse pointers without one. The release is a push
// (PublishModel) or a rollback (RollbackModel) of the version, with the
// counter the highest on the topic plus one, unless WithRelease says more.
func WithReleaseKey(priv ed25519.PrivateKey) PublishOption {
	return func(o *publishOptions) { o.key = priv }
}

// WithRelease sets the release the pointer carries (a canary, a shadow):
// Name and Version are the published version's, Counter 0 means the
// highest on the topic plus one, a zero Issued is now. It needs
// WithReleaseKey.
func WithRelease(rel *Release) PublishOption {
	return func(o *publishOptions) { o.rel = rel }
}

func collectOptions(opts []PublishOption) publishOptions {
	var o publishOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// PublishRelease writes a new pointer for rel.Name: the archived envelope
// of rel.Version (its chunks must all be on the topic, as must the
// archives and chunks of rel.Stable with a canary and of rel.Shadow) with
// rel signed by priv attached (envelope schema 2). rel.Counter 0 is the
// highest counter on the topic plus one; a counter not above it is an
// error (gateways would refuse it as a replay); a zero Issued is now. rel
// is not modified: the release written is env.Release (DecodeRelease).
func PublishRelease(ctx context.Context, cfg Config, rel *Release, priv ed25519.PrivateKey, log *slog.Logger) (*ModelEnvelope, error) {
	if rel == nil {
		return nil, errors.New("publish release: no release")
	}
	infos, err := listModels(ctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("publish release %s: %w", rel.Name, err)
	}
	mi := findModel(infos, rel.Name)
	if mi == nil {
		return nil, fmt.Errorf("publish release %s: %w", rel.Name, ErrNoModel)
	}
	env, err := releasePointer(mi, rel, priv, time.Now())
	if err != nil {
		return nil, fmt.Errorf("publish release %s: %w", rel.Name, err)
	}
	if err := producePointer(ctx, cfg, log, env); err != nil {
		return nil, fmt.Errorf("publish release %s: %w", rel.Name, err)
	}
	return env, nil
}

// LatestRelease returns the release carried by name's current pointer on
// the topic (decoded, its signature not checked), nil when the pointer
// carries none (schema 1), the model is retired or not on the topic, or
// there is no models topic. An
// error is returned when the topic cannot be read or the pointer's release
// does not decode.
func LatestRelease(ctx context.Context, cfg Config, name string) (*Release, error) {
	infos, err := listModels(ctx, cfg, nil)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, nil // no models topic yet
	}
	if err != nil {
		return nil, fmt.Errorf("latest release of %s: %w", name, err)
	}
	mi := findModel(infos, name)
	if mi == nil || mi.Current == nil || len(mi.Current.Release) == 0 {
		return nil, nil
	}
	rel, err := DecodeRelease(mi.Current.Release)
	if err != nil {
		return nil, fmt.Errorf("latest release of %s: %w", name, err)
	}
	return rel, nil
}

func findModel(infos []ModelInfo, name string) *ModelInfo {
	for i := range infos {
		if infos[i].Name == name {
			return &infos[i]
		}
	}
	return nil
}

// archived returns mi's archived envelope of version, checking that all its
// chunks are on the topic.
func archived(mi *ModelInfo, version string) (*ModelEnvelope, error) {
	for _, v := range mi.Versions {
		if v.Version != version {
			continue
		}
		if slices.Contains(mi.Missing, version) {
			return nil, fmt.Errorf("version %s has missing chunks on the topic; push it again", version)
		}
		return v, nil
	}
	return nil, fmt.Errorf("version %s not on the topic (kept: %s)", version, versionList(mi.Versions))
}

// releasePointer builds the schema-2 pointer of rel from mi's archive:
// rel completed (name, counter, issued), checked against the topic, signed.
func releasePointer(mi *ModelInfo, tmpl *Release, priv ed25519.PrivateKey, now time.Time) (*ModelEnvelope, error) {
	rel := *tmpl
	if rel.Schema == 0 {
		rel.Schema = 1
	}
	if rel.Issued.IsZero() {
		rel.Issued = now.UTC()
	}
	switch {
	case rel.Counter == 0:
		rel.Counter = mi.MaxCounter + 1
	case rel.Counter <= mi.MaxCounter:
		return nil, fmt.Errorf("release counter %d is not above %d, the highest on the topic (gateways would refuse it as a replay)", rel.Counter, mi.MaxCounter)
	}
	env, err := archived(mi, rel.Version)
	if err != nil {
		return nil, err
	}
	for _, v := range []string{rel.Shadow, canaryStable(&rel)} {
		if v == "" {
			continue
		}
		if _, err := archived(mi, v); err != nil {
			return nil, err
		}
	}
	body, sig, err := SignRelease(&rel, priv)
	if err != nil {
		return nil, err
	}
	out := *env
	out.Schema, out.Release, out.ReleaseSignature = 2, body, sig
	out.Published, out.RolledBackFrom = now.UTC(), ""
	return &out, nil
}

// canaryStable is the stable version a canary release needs on the topic
// ("" without a canary).
func canaryStable(r *Release) string {
	if r.Canary == nil {
		return ""
	}
	return r.Stable
}

// producePointer writes env as name's pointer.
func producePointer(ctx context.Context, cfg Config, log *slog.Logger, env *ModelEnvelope) error {
	cl, err := newModelsClient(cfg, log, false)
	if err != nil {
		return err
	}
	defer cl.Close()
	return produceEnvelope(ctx, cl, cfg.WithDefaults().Topic(DefaultModelsTopic), env.Name, kindPointer, env)
}
