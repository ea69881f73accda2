package sim

import (
	"fmt"
	"math/rand/v2"
)

// Injector defaults.
const (
	DefaultStuckFor    = 50
	DefaultBurstSize   = 1000
	DefaultStormCycles = 5
)

// FaultConfig configures an Injector. Zero values mean the defaults.
type FaultConfig struct {
	// Rates maps a fault kind to the probability that a message gets it
	// (0..1). At most one fault is drawn per message, so the rates must
	// sum to at most 1.
	Rates map[FaultKind]float64
	// Seed makes the injected faults reproducible.
	Seed uint64
	// OversizeBytes is the size of oversized payloads (default
	// DefaultOversizeBytes).
	OversizeBytes int
	// StuckFor is how many readings a stuck sensor repeats its value
	// (default 50).
	StuckFor int
	// BurstSize is how many messages a burst sends ignoring the rate
	// (default 1000).
	BurstSize int
	// StormCycles is how many disconnect/reconnect cycles a storm makes
	// (default 5).
	StormCycles int
}

// Message is what the Injector asks the publisher to do: send Payload to
// Topic, or (Payload nil) perform a control fault: a disconnect storm of
// Cycles cycles, or a burst of the next Burst messages at full speed.
type Message struct {
	Topic   string
	Payload []byte
	Fault   FaultKind // FaultNone for a good message
	Cycles  int       // FaultDisconnect: disconnect/reconnect cycles
	Burst   int       // FaultBurst: messages to send ignoring the rate
}

type stuckState struct {
	sensor string
	value  float64
	left   int
}

type heldMessage struct {
	msg Message
	ok  bool
}

// Injector applies faults at configured rates to a stream of readings. It
// is deterministic given its seed and input, and not safe for concurrent use.
type Injector struct {
	cfg    FaultConfig
	rng    *rand.Rand
	kinds  []FaultKind
	cum    []float64
	stuck  map[string]*stuckState
	held   map[string]heldMessage
	counts [faultKinds]uint64
}

// NewInjector validates cfg and returns an Injector.
func NewInjector(cfg FaultConfig) (*Injector, error) {
	if cfg.OversizeBytes == 0 {
		cfg.OversizeBytes = DefaultOversizeBytes
	}
	if cfg.StuckFor == 0 {
		cfg.StuckFor = DefaultStuckFor
	}
	if cfg.BurstSize == 0 {
		cfg.BurstSize = DefaultBurstSize
	}
	if cfg.StormCycles == 0 {
		cfg.StormCycles = DefaultStormCycles
	}
	if cfg.OversizeBytes < 0 || cfg.StuckFor < 0 || cfg.BurstSize < 0 || cfg.StormCycles < 0 {
		return nil, fmt.Errorf("new injector: %w: sizes must be > 0, got %+v", ErrConfig, cfg)
	}
	in := &Injector{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0xfa017)),
		stuck: map[string]*stuckState{}, held: map[string]heldMessage{}}
	sum := 0.0
	for _, k := range FaultKinds() { // fixed order, for determinism
		rate, ok := cfg.Rates[k]
		if !ok || rate == 0 {
			continue
		}
		if rate < 0 || rate > 1 || rate != rate {
			return nil, fmt.Errorf("new injector: %w: rate of %v: must be in [0,1], got %g", ErrConfig, k, rate)
		}
		sum += rate
		in.kinds = append(in.kinds, k)
		in.cum = append(in.cum, sum)
	}
	if sum > 1+1e-9 {
		return nil, fmt.Errorf("new injector: %w: fault rates: must sum to <= 1, got %g", ErrConfig, sum)
	}
	return in, nil
}

// Enabled reports whether any fault has a non-zero rate.
func (in *Injector) Enabled() bool { return in != nil && len(in.kinds) > 0 }

// Counts returns how many times each kind was injected.
func (in *Injector) Counts() map[FaultKind]uint64 {
	out := map[FaultKind]uint64{}
	for k, n := range in.counts {
		if n > 0 {
			out[FaultKind(k)] = n
		}
	}
	return out
}

func (in *Injector) draw() FaultKind {
	if len(in.kinds) == 0 {
		return FaultNone
	}
	u := in.rng.Float64()
	for i, c := range in.cum {
		if u < c {
			return in.kinds[i]
		}
	}
	return FaultNone
}

// Apply appends to out the messages to publish for reading r on topic:
// usually one good message; a faulty one; two (duplicate, or a held-back
// out-of-order message released after this one); none (this reading held
// back); or a control message (disconnect, burst) followed by the reading.
func (in *Injector) Apply(r Reading, topic string, out []Message) []Message {
	kind := in.draw()
	continuing := false // a stuck episode started earlier
	if s := in.stuck[r.Device]; s != nil {
		r = stuckReading(r, s.sensor, s.value)
		if s.left--; s.left <= 0 {
			delete(in.stuck, r.Device)
		}
		if kind == FaultNone || kind == FaultStuck {
			kind, continuing = FaultStuck, true
		}
	}
	held, hasHeld := in.held[r.Device]
	if kind == FaultOutOfOrder && hasHeld {
		kind = FaultNone // one held message per device at a time
	}
	if !continuing {
		in.counts[kind]++
	}
	delete(in.held, r.Device)
	msg := Message{Topic: topic, Fault: kind}
	switch {
	case kind.IsPayloadFault():
		msg.Payload = in.payloadFault(kind, r)
	case kind == FaultOutOfOrder:
		msg.Payload = EncodePayload(r)
		in.held[r.Device] = heldMessage{msg: msg, ok: true}
		return out
	case kind == FaultStuck:
		if !continuing && in.cfg.StuckFor > 1 {
			s := faultSensor(r)
			in.stuck[r.Device] = &stuckState{sensor: s, value: r.Values[s], left: in.cfg.StuckFor - 1}
		}
		msg.Payload = EncodePayload(r)
	case kind == FaultDisconnect:
		out = append(out, Message{Fault: kind, Cycles: in.cfg.StormCycles})
		msg.Payload, msg.Fault = EncodePayload(r), FaultNone
	case kind == FaultBurst:
		out = append(out, Message{Fault: kind, Burst: in.cfg.BurstSize})
		msg.Payload, msg.Fault = EncodePayload(r), FaultNone
	default: // none, duplicate
		msg.Payload = EncodePayload(r)
	}
	out = append(out, msg)
	if kind == FaultDuplicate {
		out = append(out, msg)
	}
	if hasHeld {
		out = append(out, held.msg)
	}
	return out
}

// Flush appends the messages still held back (out of order) and forgets
// them; call it at the end of a run. Devices come out in sorted order.
func (in *Injector) Flush(out []Message) []Message {
	devs := make(map[string]float64, len(in.held))
	for d := range in.held {
		devs[d] = 0
	}
	for _, d := range sortedKeys(devs) {
		out = append(out, in.held[d].msg)
		delete(in.held, d)
	}
	return out
}

func (in *Injector) payloadFault(kind FaultKind, r Reading) []byte {
	v := in.rng.IntN(FaultVariants(kind))
	if kind == FaultOversized {
		return Oversized(v, r, in.cfg.OversizeBytes)
	}
	return FaultPayloadVariant(kind, v, r)
}
