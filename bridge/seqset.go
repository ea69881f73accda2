package bridge

import "math/bits"

// seqWindow tracks which sequence numbers above a contiguous watermark are
// done (acknowledged by Kafka), as a bitmap: 1 bit per sequence, so a window
// of a million out-of-order acknowledgements costs 125 KB. Promises complete
// out of order across partitions; the watermark only moves over a gapless
// run, which is what the buffer may delete (buffer.Queue.Ack is prefix-only).
//
// Not safe for concurrent use.
type seqWindow struct {
	mark  uint64   // every seq <= mark is done
	base  uint64   // seq of bit 0 of words[0]; base <= mark+1, base%64 == 0 or 1 tracks nothing
	words []uint64 // bit i of words[k]: seq base+64k+i is done
}

// has reports whether seq is done.
func (w *seqWindow) has(seq uint64) bool {
	if seq <= w.mark {
		return true
	}
	off := seq - w.base
	k := off / 64
	if k >= uint64(len(w.words)) {
		return false
	}
	return w.words[k]&(1<<(off%64)) != 0
}

// set marks seq done and advances the watermark over the gapless run.
func (w *seqWindow) set(seq uint64) {
	if seq <= w.mark {
		return
	}
	if len(w.words) == 0 {
		w.base = w.mark + 1
	}
	off := seq - w.base
	k := int(off / 64)
	for k >= len(w.words) {
		w.words = append(w.words, 0)
	}
	w.words[k] |= 1 << (off % 64)
	w.advance()
}

// reset raises the watermark to mark (records deleted by someone else, or
// already acknowledged before a restart): everything at or below is done.
func (w *seqWindow) reset(mark uint64) {
	if mark <= w.mark {
		return
	}
	w.mark = mark
	w.trim()
	w.advance()
}

// advance moves the watermark over done bits directly above it.
func (w *seqWindow) advance() {
	for len(w.words) > 0 {
		off := w.mark + 1 - w.base // bit index of the first not-known-done seq
		k := off / 64
		if k >= uint64(len(w.words)) {
			w.trim()
			return
		}
		word := ^w.words[k] >> (off % 64) // zeros = done
		n := uint64(bits.TrailingZeros64(word))
		if word == 0 {
			n = 64 - off%64
		}
		if n == 0 {
			w.trim()
			return
		}
		w.mark += n
	}
}

// trim drops words wholly at or below the watermark.
func (w *seqWindow) trim() {
	for len(w.words) > 0 && w.base+63 <= w.mark {
		w.words = w.words[1:]
		w.base += 64
	}
	if len(w.words) == 0 {
		w.words = nil
	}
}

// pending is how many words the window holds (for tests and memory bounds).
func (w *seqWindow) span() uint64 { return uint64(len(w.words)) * 64 }

// setRange marks lo..hi (inclusive) done.
func (w *seqWindow) setRange(lo, hi uint64) {
	if hi < lo || hi <= w.mark {
		return
	}
	if lo <= w.mark+1 {
		w.reset(hi)
		return
	}
	for s := lo; s <= hi; s++ {
		if (s-w.base)%64 == 0 && s+63 <= hi && len(w.words) > 0 && s >= w.base {
			k := int((s - w.base) / 64)
			for k >= len(w.words) {
				w.words = append(w.words, 0)
			}
			w.words[k] = ^uint64(0)
			s += 63
			continue
		}
		w.set(s)
	}
	w.advance()
}
