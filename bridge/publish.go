package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/wire"
)

// KeepVersions is how many versions of a model PublishModel keeps on the
// topic (chunks and archive) for rollback; older ones are tombstoned.
const KeepVersions = 5

// ModelInfo is one model on the models topic, as ListModels sees it.
type ModelInfo struct {
	Name     string
	Current  *ModelEnvelope   // the pointer; nil when retired
	Versions []*ModelEnvelope // archived versions, oldest first
	// Missing lists versions whose chunks are incomplete on the topic.
	Missing []string
	// BadPointer is why the latest pointer record could not be read, when
	// it could not: gateways reject it and keep serving Current (the last
	// readable pointer), so Current is not cleared by it.
	BadPointer string `json:",omitempty"`
	// Release is the release the current pointer carries (decoded, its
	// signature not checked; nil for a schema 1 pointer), and MaxCounter
	// the highest release counter of the pointers read for the name: a
	// new release needs a higher one.
	Release    *Release `json:",omitempty"`
	MaxCounter uint64   `json:",omitempty"`
}

// newModelsClient makes a client for the models topic: producer settings
// sized for chunk records, and a consumer of the topic when consume is set;
// extra options come last.
func newModelsClient(cfg Config, log *slog.Logger, consume bool, extra ...kgo.Opt) (*kgo.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	opts, err := clientOpts(cfg, log)
	if err != nil {
		return nil, err
	}
	popts, err := producerOpts(cfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts, popts...)
	if consume {
		opts = append(opts, kgo.ConsumeTopics(cfg.Topic(DefaultModelsTopic)),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	}
	return kgo.NewClient(append(opts, extra...)...)
}

// PublishModel does not sign the package (sign pkg first): it writes pkg's
// archive record, its chunks and then the pointer that makes gateways
// switch, and tombstones versions beyond KeepVersions. chunkSize 0 =
// DefaultChunkSize. Without WithReleaseKey the pointer is a schema 1
// envelope without a release (only gateways with allow_unsigned take it);
// with it, a signed release (a push, or what WithRelease says); with
// WithoutPointer, no pointer at all.
func PublishModel(ctx context.Context, cfg Config, pkg *modelpkg.Package, chunkSize int, log *slog.Logger, opts ...PublishOption) (*ModelEnvelope, error) {
	o := collectOptions(opts)
	if o.rel != nil && o.key == nil {
		return nil, errors.New("publish model: a release needs a signing key")
	}
	if o.noPointer && (o.rel != nil || o.key != nil) {
		return nil, errors.New("publish model: a package published without a pointer carries no release")
	}
	env, chunks, err := splitPackage(pkg, chunkSize, time.Now())
	if err != nil {
		return nil, fmt.Errorf("publish model: %w", err)
	}
	cl, err := newModelsClient(cfg, log, false)
	if err != nil {
		return nil, fmt.Errorf("publish model: %w", err)
	}
	defer cl.Close()
	cfg = cfg.WithDefaults()
	topic := cfg.Topic(DefaultModelsTopic)
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	if err := createTopics(ctx, kadm.NewClient(cl), cfg, compact, topic); err != nil {
		discardIfNil(log).Warn("could not create the models topic; it must exist", "topic", topic, "err", err)
	}
	if err := publishRecords(ctx, cl, topic, env, chunks); err != nil {
		return nil, err
	}
	if o.noPointer {
		return env, nil
	}
	if o.key != nil {
		if env, err = signedPushPointer(ctx, cfg, env, o, log); err != nil {
			return nil, fmt.Errorf("publish model %s: %w", env.ID(), err)
		}
	}
	if err := produceEnvelope(ctx, cl, topic, env.Name, kindPointer, env); err != nil {
		return nil, err
	}
	if err := pruneVersions(ctx, cl, cfg, env.Name, log); err != nil {
		discardIfNil(log).Warn("prune old model versions", "model", env.Name, "err", err)
	}
	return env, nil
}

// publishRecords writes the archive, then the chunks (the pointer goes
// last): a gateway that reads the archive of the version it serves stages
// the chunks as they arrive, and switches when the pointer arrives.
func publishRecords(ctx context.Context, cl *kgo.Client, topic string, env *ModelEnvelope, chunks [][]byte) error {
	if err := produceEnvelope(ctx, cl, topic, archiveKey(env.Name, env.Version), kindArchive, env); err != nil {
		return err
	}
	for i := 0; i < len(chunks); i += 16 {
		var recs []*kgo.Record
		for j := i; j < min(i+16, len(chunks)); j++ {
			h := []kgo.RecordHeader{{Key: HeaderModelKind, Value: []byte(kindChunk)},
				{Key: wire.HeaderModel, Value: []byte(env.ID())},
				{Key: HeaderChunk, Value: fmt.Appendf(nil, "%d/%d", j, len(chunks))}}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(chunkKey(env.Name, env.Version, j)), Value: chunks[j], Headers: h})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("publish model %s: chunk: %w", env.ID(), err)
		}
	}
	return nil
}

// signedPushPointer is the schema 2 pointer of a version just published:
// o's release (default: a push of env's version) signed with o's key.
func signedPushPointer(ctx context.Context, cfg Config, env *ModelEnvelope, o publishOptions, log *slog.Logger) (*ModelEnvelope, error) {
	rel := Release{Action: ActionPush}
	if o.rel != nil {
		rel = *o.rel
	}
	rel.Name, rel.Version = env.Name, env.Version
	infos, err := listModels(ctx, cfg, log)
	if err != nil {
		return env, err
	}
	mi := findModel(infos, env.Name)
	if mi == nil {
		return env, fmt.Errorf("the archive record just written is not on the topic")
	}
	return releasePointer(mi, &rel, o.key, env.Published)
}

func produceEnvelope(ctx context.Context, cl *kgo.Client, topic, key, kind string, env *ModelEnvelope) error {
	v, err := json.Marshal(env)
	if err != nil {
		return err
	}
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: v, Headers: []kgo.RecordHeader{
		{Key: HeaderModelKind, Value: []byte(kind)}, {Key: wire.HeaderModel, Value: []byte(env.ID())}}}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("publish model %s: %s record: %w", env.ID(), kind, err)
	}
	return nil
}

// pruneVersions tombstones the chunks and archive of versions of name older
// than the newest KeepVersions (never the current one).
func pruneVersions(ctx context.Context, cl *kgo.Client, cfg Config, name string, log *slog.Logger) error {
	infos, err := listModels(ctx, cfg, log)
	if err != nil {
		return err
	}
	topic := cfg.Topic(DefaultModelsTopic)
	for _, mi := range infos {
		if mi.Name != name || len(mi.Versions) <= KeepVersions {
			continue
		}
		for _, old := range mi.Versions[:len(mi.Versions)-KeepVersions] {
			if mi.Current != nil && old.Version == mi.Current.Version {
				continue
			}
			recs := []*kgo.Record{{Topic: topic, Key: []byte(archiveKey(name, old.Version))}}
			for i := 0; i < old.Chunks; i++ {
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(chunkKey(name, old.Version, i))})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListModels reads the models topic to its end and returns every model.
func ListModels(ctx context.Context, cfg Config, log *slog.Logger) ([]ModelInfo, error) {
	return listModels(ctx, cfg, log)
}

func listModels(ctx context.Context, cfg Config, log *slog.Logger) ([]ModelInfo, error) {
	byName := map[string]*ModelInfo{}
	chunks := map[string]int{} // name/version -> chunks seen
	get := func(n string) *ModelInfo {
		if byName[n] == nil {
			byName[n] = &ModelInfo{Name: n}
		}
		return byName[n]
	}
	err := readModelsTopic(ctx, cfg, log, func(r *kgo.Record) {
		k, ok := parseModelKey(string(r.Key))
		if !ok {
			return
		}
		mi := get(k.name)
		switch k.kind {
		case kindPointer:
			readListedPointer(mi, k.name, r.Value)
		case kindArchive:
			mi.Versions = slices.DeleteFunc(mi.Versions, func(e *ModelEnvelope) bool { return e.Version == k.version })
			if env, err := decodeEnvelope(r.Value); err == nil && r.Value != nil {
				mi.Versions = append(mi.Versions, env)
			}
		case kindChunk:
			if r.Value != nil {
				chunks[k.name+"/"+k.version]++
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var out []ModelInfo
	for _, mi := range byName {
		slices.SortFunc(mi.Versions, func(a, b *ModelEnvelope) int { return a.Published.Compare(b.Published) })
		for _, v := range mi.Versions {
			if chunks[mi.Name+"/"+v.Version] < v.Chunks {
				mi.Missing = append(mi.Missing, v.Version)
			}
		}
		if mi.Current != nil || len(mi.Versions) > 0 {
			out = append(out, *mi)
		}
	}
	slices.SortFunc(out, func(a, b ModelInfo) int { return cmpString(a.Name, b.Name) })
	return out, nil
}

// readListedPointer applies a pointer record to mi as a gateway would: a
// tombstone retires the model, a readable pointer replaces Current, and an
// unreadable one is noted while Current keeps the version gateways serve.
func readListedPointer(mi *ModelInfo, name string, v []byte) {
	if v == nil {
		mi.Current, mi.BadPointer = nil, ""
		return
	}
	env, _, _, err := decodePointer(name, v)
	var rel *Release
	if err == nil && len(env.Release) > 0 {
		rel, err = DecodeRelease(env.Release)
	}
	if err != nil {
		mi.BadPointer = err.Error()
		return
	}
	mi.Current, mi.BadPointer, mi.Release = env, "", rel
	if rel != nil {
		mi.MaxCounter = max(mi.MaxCounter, rel.Counter)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readModelsTopic calls fn for every record of the models topic up to the
// end offsets taken at the start (duplicate keys: later records win).
func readModelsTopic(ctx context.Context, cfg Config, log *slog.Logger, fn func(*kgo.Record)) error {
	cfg = cfg.WithDefaults()
	return readTopic(ctx, cfg, log, "list models", cfg.Topic(DefaultModelsTopic), fn)
}

// RollbackModel makes gateways run version of name again: it re-publishes
// that version's archived envelope (all its chunks must be on the topic)
// as the pointer, marked rolled back. With WithReleaseKey the pointer
// carries a signed release of action rollback (counter: the highest on the
// topic plus one; WithRelease may set the reason or rollout).
func RollbackModel(ctx context.Context, cfg Config, name, version string, log *slog.Logger, opts ...PublishOption) (*ModelEnvelope, error) {
	if err := errors.Join(modelpkg.ValidateName("model name", name), modelpkg.ValidateName("model version", version)); err != nil {
		return nil, fmt.Errorf("rollback model: %w", err)
	}
	o := collectOptions(opts)
	if o.rel != nil && o.key == nil {
		return nil, errors.New("rollback model: a release needs a signing key")
	}
	infos, err := listModels(ctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("rollback model: %w", err)
	}
	mi := findModel(infos, name)
	if mi == nil {
		return nil, fmt.Errorf("rollback model: no model %q on the topic", name)
	}
	env, err := rollbackPointer(mi, version, o)
	if err != nil {
		return nil, fmt.Errorf("rollback model %s: %w", name, err)
	}
	if err := producePointer(ctx, cfg, log, env); err != nil {
		return nil, fmt.Errorf("rollback model %s: %w", name, err)
	}
	return env, nil
}

// rollbackPointer is the pointer that makes gateways serve version again.
func rollbackPointer(mi *ModelInfo, version string, o publishOptions) (*ModelEnvelope, error) {
	now := time.Now()
	var env *ModelEnvelope
	var err error
	if o.key == nil {
		if env, err = archived(mi, version); err != nil {
			return nil, err
		}
		cp := *env
		cp.Published, env = now.UTC(), &cp
	} else {
		rel := Release{Action: ActionRollback}
		if o.rel != nil {
			rel = *o.rel
		}
		rel.Name, rel.Version = mi.Name, version
		if env, err = releasePointer(mi, &rel, o.key, now); err != nil {
			return nil, err
		}
	}
	if mi.Current != nil {
		env.RolledBackFrom = mi.Current.Version
	}
	return env, nil
}

func versionList(vs []*ModelEnvelope) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += v.Version
	}
	return strconv.Quote(s)
}

// produceTombstone writes a null value for key (retires a model when key is
// its name).
func produceTombstone(ctx context.Context, cl *kgo.Client, topic, key string) error {
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key)}).FirstErr()
}
