package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// staging is the one version whose chunks are being received: only the
// wanted version of the served name, after its size and signature were
// checked. Every chunk is checked (index, exact length, sha256 from the
// envelope) before it is written, so at most env.ONNXSize bytes
// (<= MaxStagingBytes) are ever staged. Run's goroutine only.
type staging struct {
	env   *ModelEnvelope
	have  []bool
	count int
	bytes int64
	bad   error // first bad chunk read before the version was wanted
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
	if err := w.store.CleanStaging(env.Name, env.Version); err != nil {
		w.log.Warn("clean model staging", "err", err)
	}
	s := &staging{env: env, have: make([]bool, env.Chunks)}
	for _, i := range w.store.StagedChunks(env.Name, env.Version) {
		b, err := w.store.Chunk(env.Name, env.Version, i)
		if err == nil && i < env.Chunks && checkChunk(env, i, b) == nil {
			s.add(i, len(b))
			continue
		}
		w.store.DropChunk(env.Name, env.Version, i)
	}
	w.stage = s
	w.m.stagedBytes.Set(float64(s.bytes))
}

// dropStage stops staging and removes what was staged.
func (w *ModelWatcher) dropStage() {
	w.stage = nil
	w.m.stagedBytes.Set(0)
	w.cleanStaging()
}

// cleanStaging removes staged chunks of every version but the one being
// staged (versions nobody wants any more, leftovers of an earlier run).
func (w *ModelWatcher) cleanStaging() {
	var name, version string
	if w.stage != nil {
		name, version = w.stage.env.Name, w.stage.env.Version
	}
	if err := w.store.CleanStaging(name, version); err != nil {
		w.log.Warn("clean model staging", "err", err)
	}
}

// stageChunk checks and writes chunk i of the version being staged. A bad
// chunk is not written: it rejects the version (once) with reason
// chunk_sha256; the version is tried again when all its chunks are here
// (e.g. the bad one was pushed again).
func (w *ModelWatcher) stageChunk(i int, b []byte) {
	s := w.stage
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
		if w.wanted(env) {
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
	w.m.stagedBytes.Set(float64(s.bytes))
	if s.complete() {
		w.mu.Lock()
		if st := w.state(env.Name); st.failed == env.Version {
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
	busy := k.name != w.selected || st != nil && (st.active == env.Version ||
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
