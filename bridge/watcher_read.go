package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/inference/modelpkg"
)

// Bounds on what the watcher remembers about records it does not act on.
const (
	maxTrackedNames = 256  // model names tracked for status (the served name always is)
	maxChunkNotes   = 4096 // versions whose first chunk offsets are remembered
	maxArchives     = 256  // archive envelopes kept (a canary's stable, a shadow)
)

// reader is the watcher's position on the models topic: which offsets were
// handled (so records read again after a rewind are known as replays),
// whether it caught up with the end offsets Run started with, and where
// chunks it did not stage were seen (to re-read them once their version is
// wanted). Run's goroutine only.
type reader struct {
	pos          map[int32]int64 // highest offset handled, by partition
	starts, ends map[int32]int64 // offsets listed at start; ends nil until listed
	done         bool            // caught up
	idles        int             // polls in a row that returned nothing while catching up
	seq          uint64          // pointers read
	notes        map[string]map[int32]int64
	notesLost    bool // maxChunkNotes was reached: a rewind goes to the start
	cleaned      bool // staging of unwanted versions removed after catching up
	// archives holds the archive envelopes read, by name then version:
	// of the served name (of every name until it is chosen), at most
	// maxArchives in all.
	archives  map[string]map[string]*ModelEnvelope
	narchives int
}

func (r *reader) init() {
	r.pos = map[int32]int64{}
	r.notes = map[string]map[int32]int64{}
	r.archives = map[string]map[string]*ModelEnvelope{}
}

// archive returns the archive envelope of name:version read on the topic
// (nil when none).
func (r *reader) archive(name, version string) *ModelEnvelope {
	return r.archives[name][version]
}

// keepArchive records (env non-nil) or forgets the archive of
// name:version; it reports false when the bound was reached.
func (r *reader) keepArchive(name, version string, env *ModelEnvelope) bool {
	m := r.archives[name]
	if _, ok := m[version]; ok {
		delete(m, version)
		r.narchives--
	}
	if env == nil {
		return true
	}
	if r.narchives >= maxArchives {
		return false
	}
	if m == nil {
		m = map[string]*ModelEnvelope{}
		r.archives[name] = m
	}
	m[version] = env
	r.narchives++
	return true
}

// forget drops the chunk notes of name/version (its archive was
// tombstoned: the version was pruned from the topic).
func (r *reader) forget(name, version string) {
	delete(r.notes, name+"/"+version)
}

// keepArchivesOf forgets the archives of every name but name (once the
// served name is chosen).
func (r *reader) keepArchivesOf(name string) {
	for n, m := range r.archives {
		if n != name {
			r.narchives -= len(m)
			delete(r.archives, n)
		}
	}
}

// seen records offset o of partition p and reports whether it was handled
// before (read again after a rewind).
func (r *reader) seen(p int32, o int64) bool {
	if last, ok := r.pos[p]; ok && o <= last {
		return true
	}
	r.pos[p] = o
	r.idles = 0
	return false
}

// caughtUp reports whether every partition was read up to the end offset
// listed when Run started (listing it first if needed); the error is why
// the offsets could not be listed.
func (w *ModelWatcher) caughtUp(ctx context.Context, adm *kadm.Client, topic string) (bool, error) {
	r := &w.rd
	if r.done {
		return true, nil
	}
	if r.ends == nil {
		if err := r.list(ctx, adm, topic); err != nil {
			return false, err
		}
		w.succeeded()
	}
	for p, end := range r.ends {
		if end <= r.starts[p] {
			continue // empty partition
		}
		if last, ok := r.pos[p]; !ok || last < end-1 {
			return false, nil
		}
	}
	r.done = true
	return true, nil
}

// idle notes a poll that returned nothing while catching up: twice in a row
// with the end offsets known means nothing more is coming (the last
// offsets may have been compacted away).
func (r *reader) idle() {
	r.idles++
	if r.ends != nil && r.idles >= 2 {
		r.done = true
	}
}

// list takes the topic's start and end offsets (none when the topic does
// not exist yet: nothing to catch up with).
func (r *reader) list(ctx context.Context, adm *kadm.Client, topic string) error {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(lctx, topic)
	if err == nil {
		err = ends.Error()
	}
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = adm.ListStartOffsets(lctx, topic)
		if err == nil {
			err = starts.Error()
		}
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		r.starts, r.ends = map[int32]int64{}, map[int32]int64{} // no topic yet: nothing to catch up with
		return nil
	}
	if err != nil {
		return fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	r.starts, r.ends = map[int32]int64{}, map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) { r.starts[o.Partition] = o.Offset })
	ends.Each(func(o kadm.ListedOffset) { r.ends[o.Partition] = o.Offset })
	return nil
}

// note remembers the first offset, per partition, of a chunk of
// name/version that was not staged.
func (r *reader) note(k modelKey, p int32, o int64) {
	key := k.name + "/" + k.version
	m := r.notes[key]
	if m == nil {
		if len(r.notes) >= maxChunkNotes {
			r.notesLost = true
			return
		}
		m = map[int32]int64{}
		r.notes[key] = m
	}
	if _, ok := m[p]; !ok {
		m[p] = o
	}
}

// rewindTo returns where to re-read the topic from to get name/version's
// chunks that were read before it was wanted: their first offsets, or the
// start of every partition read when notes were lost. Only partitions
// already read past that point are returned. The notes stay (a version
// staged and dropped may be wanted again); the archive's tombstone removes
// them (forget).
func (r *reader) rewindTo(name, version string) map[int32]kgo.EpochOffset {
	out := map[int32]kgo.EpochOffset{}
	key := name + "/" + version
	for p, o := range r.notes[key] {
		if o <= r.pos[p] {
			out[p] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
	}
	if r.notesLost {
		for p := range r.pos {
			out[p] = kgo.EpochOffset{Epoch: -1, Offset: r.starts[p]}
		}
	}
	return out
}

// pointer is the latest pointer record of a name.
type pointer struct {
	seq      uint64         // read order (0: none read)
	env      *ModelEnvelope // nil for a tombstone, or when undecodable
	targeted bool
	reason   string // with err: the value is not a usable pointer
	err      error
}

func (p pointer) tombstone() bool { return p.seq > 0 && p.env == nil && p.err == nil }

// handle takes one record of the models topic. Pointers are only recorded
// here (settle acts on them); chunks are staged when they belong to the
// version being received, else their offset is noted.
func (w *ModelWatcher) handle(r *kgo.Record) {
	replay := w.rd.seen(r.Partition, r.Offset)
	k, ok := parseModelKey(string(r.Key))
	if !ok {
		if !replay {
			w.m.ignored.WithLabelValues("bad_key").Inc()
			w.log.Debug("models record with a bad key ignored", "key", shorten(r.Key), "offset", r.Offset)
		}
		return
	}
	switch k.kind {
	case kindChunk:
		w.handleChunk(r, k, replay)
	case kindPointer:
		if !replay {
			w.readPointer(k.name, r.Value, r.Timestamp)
		}
	case kindArchive:
		if replay {
			return
		}
		w.noteArchive(k, r.Value)
		if w.rd.done && r.Value != nil {
			w.expect(k, r.Value)
		}
	}
}

// noteArchive keeps the archive envelope of a version of the served name
// (of any name until one is chosen): the stable version of a canary and a
// shadow are found through it. A tombstone or an unreadable archive
// forgets the version.
func (w *ModelWatcher) noteArchive(k modelKey, v []byte) {
	if name := w.selectedName(); name != "" && name != k.name {
		return
	}
	var env *ModelEnvelope
	if v == nil {
		w.rd.forget(k.name, k.version)
	} else {
		e, _, _, err := decodePointer(k.name, v)
		if err == nil && e.Version == k.version {
			env = e
		}
	}
	if !w.rd.keepArchive(k.name, k.version, env) {
		w.m.ignored.WithLabelValues("too_many_archives").Inc()
	}
}

func shorten(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%q...", b[:80])
	}
	return fmt.Sprintf("%q", b)
}

func (w *ModelWatcher) handleChunk(r *kgo.Record, k modelKey, replay bool) {
	if r.Value == nil {
		return // a pruned chunk
	}
	// Noted even when staged: a staging dropped (a canary's version on a
	// gateway outside it) may be wanted again later (its promotion).
	if name := w.selectedName(); !replay && (name == "" || name == k.name) {
		w.rd.note(k, r.Partition, r.Offset)
	}
	for _, s := range []*staging{w.stage, w.shadowStage} {
		if s != nil && s.env.Name == k.name && s.env.Version == k.version {
			w.stageChunk(s, k.chunk, r.Value)
			return
		}
	}
}

// readPointer records the latest pointer of name, written at ts.
func (w *ModelWatcher) readPointer(name string, v []byte, ts time.Time) {
	w.rd.seq++
	p := pointer{seq: w.rd.seq}
	if v != nil {
		var man *modelpkg.Manifest
		p.env, man, p.reason, p.err = decodePointer(name, v)
		p.targeted = p.err == nil && man.Targeting.Targets(w.kcfg.GatewayID)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.models[name]
	if st == nil && name != w.selected && (p.tombstone() || len(w.models) >= maxTrackedNames) {
		if !p.tombstone() {
			w.m.ignored.WithLabelValues("too_many_names").Inc()
		}
		return
	}
	st = w.state(name)
	st.ptr = p
	if p.targeted && (st.firstTargeted.IsZero() || ts.Before(st.firstTargeted)) {
		st.firstTargeted = ts
	}
	if w.selected != "" && name != w.selected {
		w.markUnselected(name, st)
	}
}

// markUnselected sets the state of a name this gateway does not serve.
// Call with mu held.
func (w *ModelWatcher) markUnselected(name string, st *modelState) {
	switch {
	case st.ptr.tombstone():
		delete(w.models, name)
	case st.ptr.env != nil && st.ptr.err == nil && !st.ptr.targeted:
		st.state = ModelNotTargeted
	default:
		st.state = ModelNotSelected
	}
}

// decodePointer decodes a pointer value of key name: its envelope and
// manifest, which must agree with each other and with the key.
func decodePointer(name string, v []byte) (*ModelEnvelope, *modelpkg.Manifest, string, error) {
	env, err := decodeEnvelope(v)
	if err != nil {
		return nil, nil, modelpkg.ReasonEnvelope, err
	}
	if env.Name != name {
		return env, nil, modelpkg.ReasonEnvelope, fmt.Errorf("pointer %q holds an envelope of %s", name, env.ID())
	}
	man, err := modelpkg.DecodeManifest(env.Manifest)
	if err != nil {
		return env, nil, modelpkg.ReasonManifest, err
	}
	if man.Name != env.Name || man.Version != env.Version || man.ONNXSHA256 != env.ONNXSHA256 {
		return env, nil, modelpkg.ReasonManifest, fmt.Errorf("manifest is %s (onnx %.12s), envelope says %s (onnx %.12s)",
			man.ID(), man.ONNXSHA256, env.ID(), env.ONNXSHA256)
	}
	return env, man, "", nil
}
