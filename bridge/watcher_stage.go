package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// staging is a version whose chunks are being received: the wanted
// version of the served name (ModelWatcher.stage), or the shadow version
// its release names (ModelWatcher.shadowStage), each after its size and
// signature were checked. Every chunk is checked (index, exact length,
// sha256 from the envelope) before it is written, so at most env.ONNXSize
// bytes (<= MaxStagingBytes) are ever staged per version. Run's goroutine
// only.
type staging struct {
	env    *ModelEnvelope
	shadow bool // the shadow's staging
	have   []bool
	count  int
	bytes  int64
	bad    error // first bad chunk read before the version was wanted
}

func (s *staging) is(env *ModelEnvelope) bool {
	return s.env.Name == env.Name && s.env.Version == env.Version
}

func (s *staging) complete() bool { return s.count == s.env.Chunks }

func (s *staging) add(i int, n int) {
	s.have[i] = true
	s.count++
	s.bytes += int64(n)
}

// checkChunk verifies chunk i of env: exact length and sha256.
func checkChunk(env *ModelEnvelope, i int, b []byte) error {
	if want := env.chunkLen(i); int64(len(b)) != want {
		return fmt.Errorf("chunk %d of %d has %d bytes, the envelope says %d", i, env.Chunks, len(b), want)
	}
	s := sha256.Sum256(b)
	if hex.EncodeToString(s[:]) != env.ChunkSHA256[i] {
		return fmt.Errorf("chunk %d of %d does not match its sha256", i, env.Chunks)
	}
	return nil
}

// startStage makes env the version being staged. Chunks of it staged by an
// earlier run are kept if they still verify; everything else staged goes.
func (w *ModelWatcher) startStage(env *ModelEnvelope) {
	w.stage = w.newStaging(env, false)
}

// newStaging cleans the staging area but for env and the other staging,
// and returns env's staging with the chunks an earlier run staged that
// still verify.
func (w *ModelWatcher) newStaging(env *ModelEnvelope, shadow bool) *staging {
	keep := []string{env.Version}
	if o := w.otherStage(shadow); o != nil && o.env.Name == env.Name {
		keep = append(keep, o.env.Version)
	}
	if err := w.store.CleanStaging(env.Name, keep...); err != nil {
		w.log.Warn("clean model staging", "err", err)
	}
	s := &staging{env: env, shadow: shadow, have: make([]bool, env.Chunks)}
	for _, i := range w.store.StagedChunks(env.Name, env.Version) {
		b, err := w.store.Chunk(env.Name, env.Version, i)
		if err == nil && i < env.Chunks && checkChunk(env, i, b) == nil {
			s.add(i, len(b))
			continue
		}
		w.store.DropChunk(env.Name, env.Version, i)
	}
	w.setStagedBytes(s, shadow)
	return s
}

// otherStage is the staging that is not the shadow's (shadow) or not the
// served version's.
func (w *ModelWatcher) otherStage(shadow bool) *staging {
	if shadow {
		return w.stage
	}
	return w.shadowStage
}

// setStagedBytes sets the staged bytes gauge: s's (the shadow's when
// shadow) plus the other staging's.
func (w *ModelWatcher) setStagedBytes(s *staging, shadow bool) {
	n := int64(0)
	for _, x := range []*staging{s, w.otherStage(shadow)} {
		if x != nil {
			n += x.bytes
		}
	}
	w.m.stagedBytes.Set(float64(n))
}

// dropStage stops staging the served version and removes what was staged
// (the shadow's staging stays).
func (w *ModelWatcher) dropStage() {
	w.stage = nil
	w.setStagedBytes(nil, false)
	w.cleanStaging()
}

// cleanStaging removes staged chunks of every version but those being
// staged (versions nobody wants any more, leftovers of an earlier run).
func (w *ModelWatcher) cleanStaging() {
	var name string
	var keep []string
	for _, s := range []*staging{w.stage, w.shadowStage} {
		if s != nil && (name == "" || name == s.env.Name) {
			name, keep = s.env.Name, append(keep, s.env.Version)
		}
	}
	if err := w.store.CleanStaging(name, keep...); err != nil {
		w.log.Warn("clean model staging", "err", err)
	}
}

// stageChunk checks and writes chunk i of the version s stages. A bad
// chunk is not written: it rejects the version (once) with reason
// chunk_sha256; the version is tried again when all its chunks are here
// (e.g. the bad one was pushed again).
func (w *ModelWatcher) stageChunk(s *staging, i int, b []byte) {
	env := s.env
	switch {
	case i >= env.Chunks:
		w.m.ignored.WithLabelValues("chunk_index").Inc()
		return
	case s.have[i]:
		return // read again (rewind, duplicate)
	}
	if err := checkChunk(env, i, b); err != nil {
		w.m.ignored.WithLabelValues("chunk_sha256").Inc()
		if s.shadow {
			w.rejectShadowOnce(env, err)
		} else if w.wanted(env) {
			w.rejectOnce(env, "chunk_sha256", err)
		} else if s.bad == nil {
			s.bad = err // reported if its pointer comes
		}
		return
	}
	if s.bytes+int64(len(b)) > w.cfg.MaxStagingBytes { // not reached: want checked ONNXSize
		w.m.ignored.WithLabelValues("staging_full").Inc()
		return
	}
	if err := w.store.PutChunk(env.Name, env.Version, i, b); err != nil {
		w.log.Error("stage model chunk", "model", env.ID(), "chunk", i, "err", err)
		return
	}
	s.add(i, len(b))
	w.m.staged.Inc()
	w.setStagedBytes(s, s.shadow)
	if s.complete() {
		w.mu.Lock()
		st := w.state(env.Name)
		switch {
		case s.shadow && st.shadow.env == env && st.shadow.state == ShadowRejected:
			st.shadow.state, st.shadow.lastErr = ShadowWaitingChunks, "" // every chunk is good now: try again
		case !s.shadow && st.failed == env.Version:
			st.failed = "" // every chunk is good now: try again
		}
		w.mu.Unlock()
	}
}

// wanted reports whether env is the served name's wanted version.
func (w *ModelWatcher) wanted(env *ModelEnvelope) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.models[env.Name]
	return st != nil && st.want != nil && st.want.Version == env.Version
}

// rejectOnce rejects env unless it is already rejected.
func (w *ModelWatcher) rejectOnce(env *ModelEnvelope, reason string, err error) {
	w.mu.Lock()
	already := w.state(env.Name).failed == env.Version
	w.mu.Unlock()
	if already {
		w.log.Debug("bad chunk of a rejected model", "model", env.ID(), "err", err)
		return
	}
	w.reject(env.Name, env.Version, reason, err)
}

// expect stages the chunks of a version whose archive record was just
// published (it comes before its chunks, see PublishModel) when it is a
// version of the served name that targets this gateway, passes the size
// and signature checks, is not here yet, and no wanted version is being
// received. So a live push is received once, as it streams past, and its
// pointer finds it staged.
func (w *ModelWatcher) expect(k modelKey, v []byte) {
	env, man, _, err := decodePointer(k.name, v)
	if err != nil || env.Version != k.version || !man.Targeting.Targets(w.kcfg.GatewayID) {
		return
	}
	w.mu.Lock()
	st := w.models[k.name]
	busy := k.name != w.selected || st != nil && (st.active == env.Version || st.shadow.version == env.Version ||
		st.want != nil && st.want.Version != st.active && st.failed != st.want.Version && w.stage != nil && w.stage.is(st.want))
	w.mu.Unlock()
	if busy || w.store.Has(env.Name, env.Version) {
		return
	}
	if _, err := w.preVerify(env); err != nil {
		return // rejected with its reason if its pointer comes
	}
	if w.stage == nil || !w.stage.is(env) || !sameContent(w.stage.env, env) {
		w.startStage(env)
	}
}

// sameContent reports whether two envelopes describe the same bytes.
func sameContent(a, b *ModelEnvelope) bool {
	return a.ONNXSHA256 == b.ONNXSHA256 && a.ONNXSize == b.ONNXSize && a.ChunkSize == b.ChunkSize &&
		slices.Equal(a.ChunkSHA256, b.ChunkSHA256)
}
