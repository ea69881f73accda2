package ingest

import "sync"

// maxHeldBytes bounds the payload bytes of messages held while the queue
// is full (see holding).
const maxHeldBytes = 16 << 20

// heldOverhead is counted per held message besides its payload.
const heldOverhead = 256

// holding keeps the messages paho delivers while the Client's queue is full,
// in arrival order, and a goroutine (running only while it holds any)
// moves them into the queue as the pipeline takes from it.
//
// Why: paho reads the connection, handles PINGRESP and hands PUBLISH
// packets to the router on one chain of goroutines. A router callback that
// blocks stops that chain, so a PINGRESP behind a PUBLISH is never read and
// paho drops the connection ("pingresp not received") after a long
// backpressure, and the broker then redelivers everything unacknowledged.
// Holding lets paho keep reading: backpressure then stalls delivery, not
// the connection. What is held is bounded by the broker's in-flight window
// for QoS 1 (max_inflight_messages; nothing is acknowledged meanwhile) and
// by maxHeldBytes; at that bound deliver blocks as before.
//
// Safe for concurrent use.
type holding struct {
	mu      sync.Mutex
	space   *sync.Cond // signalled when a held message left
	msgs    []*Message
	bytes   int
	feeding bool // the feeder holds or is sending a message
	closing bool // close the queue once everything held is in it
	warned  bool // warn once per episode of being full
}

// deliver puts m into q, or holds it when q is full or messages are held
// already (keeping arrival order). It blocks while maxHeldBytes are held,
// calling full once per such episode.
func (h *holding) deliver(q chan *Message, m *Message, full func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.feeding {
		select {
		case q <- m:
			return
		default:
		}
	}
	if h.space == nil {
		h.space = sync.NewCond(&h.mu)
	}
	n := len(m.Payload) + heldOverhead
	for len(h.msgs) > 0 && h.bytes+n > maxHeldBytes {
		if !h.warned {
			h.warned = true
			full()
		}
		h.space.Wait()
	}
	h.warned = false
	h.msgs = append(h.msgs, m)
	h.bytes += n
	if !h.feeding {
		h.feeding = true
		go h.feed(q)
	}
}

// feed moves held messages into q in order; it returns when none is held
// (closing q then if close was called).
func (h *holding) feed(q chan *Message) {
	for {
		h.mu.Lock()
		if len(h.msgs) == 0 {
			h.feeding = false
			if h.closing {
				close(q)
			}
			h.mu.Unlock()
			return
		}
		m := h.msgs[0]
		h.msgs[0] = nil
		h.msgs = h.msgs[1:]
		h.bytes -= len(m.Payload) + heldOverhead
		h.space.Broadcast()
		h.mu.Unlock()
		q <- m // blocks while the pipeline is behind
	}
}

// close closes q once every held message is in it. No deliver may follow.
func (h *holding) close(q chan *Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.feeding {
		h.closing = true
		return
	}
	close(q)
}

// len is the number of messages held.
func (h *holding) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}
