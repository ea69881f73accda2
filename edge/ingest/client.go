package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Message is one MQTT message handed from the Client to the Pipeline. Ack
// must be called once the message's readings (or its dead-letter record)
// are committed; for QoS 0 it is a no-op.
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Template *TopicTemplate // the template of subscription Sub
	Sub      int            // index of the subscription in mqtt.subscriptions
	Received time.Time      // when paho handed it over
	ack      interface{ Ack() }
}

// Ack acknowledges the message to the broker (MQTT PUBACK for QoS 1).
func (m *Message) Ack() {
	if m.ack != nil {
		m.ack.Ack()
	}
}

// Client is the MQTT side of the appliance: a paho client with a persistent
// session, manual acknowledgement, and a bounded queue of unacknowledged
// messages (Messages). When the queue is full the paho callback blocks,
// which stops paho reading from the socket: the broker holds the rest
// (backpressure, not loss).
//
// Start connects (retrying in the background); Messages delivers;
// StopReceiving stops delivery and closes Messages; Disconnect closes the
// connection. Every method is safe for concurrent use.
type Client struct {
	cfg    MQTTConfig
	log    *slog.Logger
	subs   []*TopicTemplate
	client mqtt.Client
	msgs   chan *Message

	mu        sync.RWMutex // guards stopping against sends on msgs
	stopping  bool
	connected atomic.Bool   // connected and every subscription granted
	gen       atomic.Uint64 // connection generation: +1 on each connect, loss and Disconnect
	errMu     sync.Mutex
	subErr    error         // why the current connection is not subscribed (nil: it is, or no connection)
	closed    chan struct{} // closed by Disconnect: ends subscribe retries
	closeOnce sync.Once

	sysDropped atomic.Uint64 // the broker's $SYS dropped-messages count
	sysFirst   atomic.Uint64 // the first such count received
	sysKnown   atomic.Bool   // the broker published one
	onConnect  func(connected bool)
	held       holding
	attempts   connAttempts
}

// NewClient builds the client for a config with defaults applied; it does
// not connect. onConnect, when not nil, is called on paho's goroutine each
// time the connection comes up (every subscription granted) or is lost
// after it came up.
func NewClient(cfg MQTTConfig, log *slog.Logger, onConnect func(connected bool)) (*Client, error) {
	in := &Client{cfg: cfg, log: log, msgs: make(chan *Message, cfg.MaxUnacked), onConnect: onConnect, closed: make(chan struct{})}
	for _, s := range cfg.Subscriptions {
		tt, err := s.template()
		if err != nil {
			return nil, err
		}
		in.subs = append(in.subs, tt)
	}
	if len(in.subs) == 0 {
		return nil, fmt.Errorf("mqtt: no subscriptions")
	}
	tlsCfg, err := cfg.TLS.Build("mqtt.tls")
	if err != nil {
		return nil, fmt.Errorf("mqtt tls: %w", err)
	}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(cfg.CleanSession).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetKeepAlive(cfg.KeepAlive).
		// A PINGRESP is due within the keepalive (paho's fixed 10 s is
		// longer than a short keepalive itself).
		SetPingTimeout(min(cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		// handleConnect subscribes on every connection. paho's resumed
		// subscriptions would race it: on a persistent session paho
		// walks its store after starting OnConnect, finds the SUBSCRIBE
		// being sent, sends it again and completes our token without
		// its SUBACK codes.
		SetResumeSubs(false).
		// Every message goes to route (no per-subscription callbacks):
		// paho then skips its per-message route matching (two
		// strings.Split per route and message), and a message that
		// arrives before the subscriptions are renewed on a resumed
		// session is still delivered (and acknowledged) instead of dropped.
		SetDefaultPublishHandler(in.route).
		SetOnConnectHandler(in.handleConnect).
		SetConnectionNotificationHandler(in.notified).
		SetConnectionLostHandler(in.lost)
	if tlsCfg != nil {
		opts.SetTLSConfig(tlsCfg)
	}
	if open := bufferedOpener(cfg.Broker); open != nil {
		opts.SetCustomOpenConnectionFn(open)
	}
	in.client = mqtt.NewClient(opts)
	return in, nil
}

// Messages is the queue of received, unacknowledged messages.
func (in *Client) Messages() <-chan *Message { return in.msgs }

// Queued is the number of messages received and waiting in Messages
// (held ones included).
func (in *Client) Queued() int { return len(in.msgs) + in.held.len() }

// Connected reports whether the MQTT connection is up and the broker
// granted every subscription (its SUBACK arrived): only then is a message
// published to a subscribed topic sure to reach ingest.
func (in *Client) Connected() bool { return in.connected.Load() }

// SubscribeErr says why the current connection is up but not subscribed:
// a *SubscribeError naming the filters the broker refused, or another
// error when its SUBACK did not come. It is nil otherwise (also while
// disconnected).
func (in *Client) SubscribeErr() error {
	in.errMu.Lock()
	defer in.errMu.Unlock()
	return in.subErr
}

func (in *Client) setSubErr(err error) {
	in.errMu.Lock()
	in.subErr = err
	in.errMu.Unlock()
}

// Start begins connecting; it does not wait for the broker (paho retries in
// the background, and the rest of the appliance runs meanwhile).
func (in *Client) Start() {
	in.client.Connect()
}

// handleConnect runs on its own goroutine (paho starts one per
// connection): it subscribes and waits for the SUBACK before it reports the
// connection up, so nothing published after Connected turns true can miss
// the subscription, and a refused subscription is an error, not readiness.
func (in *Client) handleConnect(c mqtt.Client) {
	gen := in.gen.Add(1)
	if !in.subscribeUntilGranted(c, gen) {
		return
	}
	in.connected.Store(true)
	if in.gen.Load() != gen { // lost while being marked up (lost saw it down)
		in.connected.Store(false)
		return
	}
	in.log.Info("mqtt connected", "broker", RedactURL(in.cfg.Broker), "client_id", in.cfg.ClientID,
		"failed_attempts", in.attempts.connected())
	if in.onConnect != nil {
		in.onConnect(true)
	}
	in.watchSys(c, gen)
}

// subscribeUntilGranted subscribes until the broker grants every filter
// (true), retrying a refusal every subscribeRetry and a missing answer
// every subscribeRetrySoon, or until the connection of generation gen ends
// or Disconnect is called (false).
func (in *Client) subscribeUntilGranted(c mqtt.Client, gen uint64) bool {
	for {
		err := in.subscribeAll(c, gen)
		if in.gen.Load() != gen {
			return false // lost meanwhile: the next connection subscribes again
		}
		in.setSubErr(err)
		if err == nil {
			return true
		}
		wait := subscribeRetrySoon
		if se := (*SubscribeError)(nil); errors.As(err, &se) {
			wait = subscribeRetry
		}
		in.log.Error("mqtt connected but not subscribed; ingest is not ready; retrying", "broker", RedactURL(in.cfg.Broker),
			"err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-in.closed:
			return false
		}
	}
}

// notified logs failed connection attempts, with backoff (paho retries
// every second or so while the broker is unreachable).
func (in *Client) notified(_ mqtt.Client, n mqtt.ConnectionNotification) {
	if f, ok := n.(mqtt.ConnectionNotificationFailed); ok {
		in.attempts.fail(in.log, RedactURL(in.cfg.Broker), f.Reason, time.Now())
	}
}

func (in *Client) lost(_ mqtt.Client, err error) {
	in.gen.Add(1)
	was := in.connected.Swap(false)
	in.setSubErr(nil)
	in.log.Warn("mqtt connection lost", "err", err)
	if was && in.onConnect != nil {
		in.onConnect(false)
	}
}

// route runs on paho's router goroutine for every message: a $SYS message
// goes to handleSys (see watchSys); any other picks the first subscription
// whose template fits the topic. A topic none fits
// (from a subscription since removed from the config, on a persistent
// session) goes with the first template, so the pipeline dead-letters it as
// bad_topic and acknowledges it rather than leaving it unacknowledged.
func (in *Client) route(_ mqtt.Client, m mqtt.Message) {
	if isSys(m.Topic()) {
		in.handleSys(m)
		return
	}
	sub := 0
	if len(in.subs) > 1 {
		topic := m.Topic()
		for i, s := range in.subs {
			if s.fits(topic) {
				sub = i
				break
			}
		}
	}
	in.deliver(sub, m)
}

// deliver runs on paho's router goroutine. When the queue is full it holds
// the message (see holding) so that paho keeps reading the connection and
// its keepalive is answered; it blocks only when the held messages reach
// maxHeldBytes (the backpressure path of last resort).
func (in *Client) deliver(sub int, m mqtt.Message) {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.stopping {
		return // not acked: the broker redelivers it to the next session
	}
	msg := &Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Template: in.subs[sub], Sub: sub, Received: time.Now(), ack: m}
	in.held.deliver(in.msgs, msg, in.warnHeldFull)
}

func (in *Client) warnHeldFull() {
	in.log.Warn("mqtt: ingest is behind and the broker keeps sending: reading paused, the connection may time out; "+
		"set the broker's max_inflight_messages to at most mqtt.max_unacked", "held_bytes", maxHeldBytes)
}

// StopReceiving makes further deliveries return without queueing (they stay
// unacknowledged, so the broker keeps them) and closes Messages once
// in-flight deliveries are done and held messages are queued, so the
// pipeline can drain what was received. A callback blocked on a full queue
// is released by the pipeline draining.
func (in *Client) StopReceiving() {
	in.mu.Lock() // waits for deliver calls in progress
	if !in.stopping {
		in.stopping = true
		in.held.close(in.msgs)
	}
	in.mu.Unlock()
}

// Disconnect closes the MQTT connection, waiting up to d for pending
// acknowledgements and publishes to be written.
func (in *Client) Disconnect(d time.Duration) {
	in.gen.Add(1)
	in.closeOnce.Do(func() { close(in.closed) })
	in.client.Disconnect(uint(d / time.Millisecond))
	in.connected.Store(false)
}

// ErrNotConnected is returned by Publish while the MQTT connection is down.
var ErrNotConnected = errors.New("mqtt not connected")

// Publish sends a message without waiting for the broker's acknowledgement.
// A failure to deliver is logged by a watcher that gives up after 30 s, so
// no goroutine outlives a broker that never answers.
func (in *Client) Publish(topic string, qos byte, retain bool, payload []byte) error {
	if !in.client.IsConnectionOpen() {
		return ErrNotConnected
	}
	tok := in.client.Publish(topic, qos, retain, payload)
	go func() {
		if !tok.WaitTimeout(30 * time.Second) {
			in.log.Warn("mqtt publish not acknowledged within 30s", "topic", topic)
			return
		}
		if err := tok.Error(); err != nil {
			in.log.Warn("mqtt publish failed", "topic", topic, "err", err)
		}
	}()
	return nil
}
