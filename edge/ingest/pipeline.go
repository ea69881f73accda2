package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// maxBatch bounds the messages taken into one batch (one commit).
const maxBatch = 1024

// Batch is one batch of messages, decoded, as the Pipeline hands it to
// its Sink.
type Batch struct {
	Messages []*Message // in arrival order; acknowledged after the commit
	// Readings are the valid readings, in message order. Their Values
	// maps (and ValuesJSON) are reused for the next batch: they are valid
	// only until the Sink returns.
	Readings []Reading
	Invalid  []Invalid     // messages to dead-letter, in message order
	Stuck    []StuckChange // stuck-sensor changes, in the order noticed
	// Presence are Sparkplug edge nodes and devices going online or
	// offline (births and deaths), in message order.
	Presence []PresenceChange
	Taken    time.Time // when the batch was taken from the queue
	// MaxPayloadBytes is validation.max_payload_bytes in force for the
	// batch (a dead letter keeps at most that much of its payload).
	MaxPayloadBytes int
}

// Invalid is a message that failed topic matching, decoding or validation.
type Invalid struct {
	Message *Message
	Device  string // "" when the topic did not match its template
	Err     *InvalidError
}

// Sink prepares a decoded batch for its commit and returns the function
// that commits it. The Pipeline calls the Sink on its decode goroutine (it
// may block there: that slows ingest, which is the backpressure path) and
// the returned commit on its commit goroutine, while the next batch is
// decoded. The batch's messages are acknowledged, in arrival order, only
// when commit returns nil; an error leaves them unacknowledged (the broker
// redelivers them to the next session).
type Sink func(b *Batch) (commit func() error)

// Pipeline takes messages from a Client's queue, decodes them with their
// subscription's Decoder, checks for stuck sensors, hands each batch to a
// Sink and acknowledges the messages once the Sink committed them.
// Decoding the next batch overlaps the commit (fsync) of the previous one.
//
// Run runs it once. SetValidation, LastTurn, OldestUnacked, StuckSensors
// and RebirthRequests are safe for concurrent use with Run; SetPublish
// must come before it.
type Pipeline struct {
	subs []Subscription
	sink Sink
	log  *slog.Logger
	set  atomic.Pointer[decoderSet]
	// sessions are the Sparkplug sessions by subscription index (nil for
	// other formats); Run's decode goroutine.
	sessions []*spSession

	stuck        *stuckTracker // Run's decode goroutine
	lastTurn     atomic.Int64  // unix ns of the decode loop's last turn
	unackedSince atomic.Int64  // unix ns; see OldestUnacked
}

// decoderSet is the decoders of the subscriptions for one validation config.
type decoderSet struct {
	cfg  ValidationConfig
	subs []Decoder // by subscription index (Message.Sub)
}

// NewPipeline builds a pipeline for the subscriptions (mqtt.subscriptions
// with defaults applied) and validation settings; it does not start it.
func NewPipeline(subs []Subscription, v ValidationConfig, sink Sink, log *slog.Logger) (*Pipeline, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{subs: subs, sink: sink, log: log, stuck: newStuckTracker(), sessions: make([]*spSession, len(subs))}
	for i := range subs {
		if subs[i].Format == FormatSparkplugB {
			p.sessions[i] = newSpSession()
		}
	}
	if err := p.SetValidation(v); err != nil {
		return nil, err
	}
	return p, nil
}

// SetValidation applies new validation settings from the next batch on
// (a reload). A change of the stuck-sensor settings reports every stuck
// sensor recovered and starts the check afresh.
func (p *Pipeline) SetValidation(v ValidationConfig) error {
	v.SetDefaults()
	r := &rules{cfg: v}
	set := &decoderSet{cfg: v, subs: make([]Decoder, len(p.subs))}
	for i := range p.subs {
		d, err := newDecoder(&p.subs[i], r)
		if err != nil {
			return fmt.Errorf("mqtt.subscriptions[%d].format: %w", i, err)
		}
		set.subs[i] = d
	}
	p.set.Store(set)
	return nil
}

// LastTurn is when the decode loop last turned; it turns at least once a
// second while Run runs, even when idle (a watchdog's liveness signal).
func (p *Pipeline) LastTurn() time.Time { return time.Unix(0, p.lastTurn.Load()) }

// OldestUnacked is when the oldest message of the batch being committed
// arrived; zero when no commit is in progress.
func (p *Pipeline) OldestUnacked() time.Time {
	if ns := p.unackedSince.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// ForgetDevice drops the device's stuck-sensor state (its stuck sensors
// leave StuckSensors without a recovered change): the caller's device
// registry, which bounds the devices the check keeps, evicted it. It must be
// called from the Sink (the decode goroutine, which owns that state).
func (p *Pipeline) ForgetDevice(device string) { p.stuck.forget(device) }

// SetPublish gives sparkplug_b subscriptions the means to send rebirth
// requests (sparkplug.rebirth.enabled); without it none are sent. Call it
// before Run.
func (p *Pipeline) SetPublish(pub Publish) {
	for _, s := range p.sessions {
		if s != nil {
			s.publish = pub
		}
	}
}

// RebirthRequests is the number of Sparkplug rebirth requests sent.
func (p *Pipeline) RebirthRequests() int64 {
	var n int64
	for _, s := range p.sessions {
		if s != nil {
			n += s.rebirths.Load()
		}
	}
	return n
}

// StuckSensors is the number of sensors stuck now.
func (p *Pipeline) StuckSensors() int64 { return p.stuck.Stuck() }

// Run decodes and commits the messages of msgs until msgs is closed and
// drained, and every batch taken is committed (or refused). It blocks.
func (p *Pipeline) Run(msgs <-chan *Message) {
	jobs := make(chan job, 2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.commitLoop(jobs)
	}()
	p.decodeLoop(msgs, jobs)
	<-done
}

// job is a prepared batch on its way to the commit goroutine.
type job struct {
	msgs   []*Message
	commit func() error
}

// decodeLoop takes what has queued up (at most maxBatch messages), decodes
// it and passes it on. It returns, closing jobs, when msgs is closed and
// drained.
func (p *Pipeline) decodeLoop(msgs <-chan *Message, jobs chan<- job) {
	defer close(jobs)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	sc := newScratch()
	for {
		p.lastTurn.Store(time.Now().UnixNano())
		var m *Message
		var ok bool
		select {
		case m, ok = <-msgs:
		case <-tick.C:
			continue
		}
		if !ok {
			return
		}
		batch := make([]*Message, 1, 64)
		batch[0] = m
	fill:
		for len(batch) < maxBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		b := p.decode(batch, sc)
		commit := p.sink(b)
		sc.readings = b.Readings
		sc.recycle()
		jobs <- job{msgs: batch, commit: commit}
	}
}

// commitLoop runs each batch's commit and then acknowledges its messages,
// in arrival order. It returns when jobs is closed and drained.
func (p *Pipeline) commitLoop(jobs <-chan job) {
	for j := range jobs {
		p.unackedSince.Store(j.msgs[0].Received.UnixNano())
		err := j.commit()
		p.unackedSince.Store(0)
		if err != nil {
			p.log.Error("ingest batch not committed; left unacknowledged", "messages", len(j.msgs), "err", err)
			continue
		}
		for _, m := range j.msgs {
			m.Ack()
		}
		p.lastTurn.Store(time.Now().UnixNano())
	}
}

// decode matches, decodes and validates a batch, and runs the stuck-sensor
// check on its readings. sc lends the readings slice and value maps.
func (p *Pipeline) decode(msgs []*Message, sc *scratch) *Batch {
	set := p.set.Load()
	b := &Batch{Messages: msgs, Readings: sc.readings[:0], Taken: time.Now(), MaxPayloadBytes: set.cfg.MaxPayloadBytes}
	if ch := p.stuck.configure(set.cfg.StuckAfter, set.cfg.StuckIgnore); len(ch) > 0 {
		for i := range ch {
			ch[i].At = b.Taken
		}
		b.Stuck = ch
	}
	for _, m := range msgs {
		device, fields, ok := sc.match(m.Template, m.Topic)
		if !ok {
			b.Invalid = append(b.Invalid, Invalid{Message: m, Err: &InvalidError{Reason: ReasonBadTopic,
				Detail: "topic does not match " + m.Template.String()}})
			continue
		}
		if err := m.Template.checkDevice(device); err != nil {
			b.Invalid = append(b.Invalid, Invalid{Message: m, Err: asInvalid(err)})
			continue
		}
		src := Source{Device: device, Fields: fields, Received: m.Received, Topic: m.Topic, session: p.sessions[m.Sub], sc: sc}
		rs, err := set.subs[m.Sub].Decode(b.Readings, src, m.Payload)
		if src.session != nil {
			b.Presence = src.session.takeChanges(b.Presence)
		}
		if err != nil {
			b.Invalid = append(b.Invalid, Invalid{Message: m, Device: device, Err: asInvalid(err)})
			continue
		}
		if set.cfg.StuckAfter > 0 {
			for i := len(b.Readings); i < len(rs); i++ {
				b.Stuck = p.observeStuck(b.Stuck, &rs[i], &set.cfg)
			}
		}
		b.Readings = rs
	}
	return b
}

// observeStuck runs the stuck-sensor check on a reading and appends the
// changes, stamped with its receive time.
func (p *Pipeline) observeStuck(out []StuckChange, r *Reading, cfg *ValidationConfig) []StuckChange {
	n := len(out)
	out = p.stuck.observe(r.Device, r.Time, r.Values, cfg.StuckAfter, cfg.stuckIgnore, out)
	for i := n; i < len(out); i++ {
		out[i].At = r.Received
	}
	return out
}

// asInvalid returns err as an *InvalidError (a decoder's contract; any
// other error counts as malformed).
func asInvalid(err error) *InvalidError {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie
	}
	return &InvalidError{Reason: ReasonMalformed, Detail: err.Error()}
}
