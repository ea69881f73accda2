package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTTConfig configures an MQTTSink. Zero values mean the defaults.
type MQTTConfig struct {
	Broker             string // default tcp://127.0.0.1:1883
	ClientID           string // default "firmware-sim-<pid>"
	Username, Password string
	QoS                byte // 0 or 1 (2 is accepted)
	// Window bounds the publishes handed to paho whose token has not
	// completed (default 10000 at QoS 0, 1000 at QoS 1/2). Send blocks
	// when it is full: backpressure instead of unbounded memory.
	Window         int
	ConnectTimeout time.Duration // default 10s
	// NoCoalesce disables write coalescing (one write syscall per message,
	// paho's default behaviour). Coalescing gathers the packets paho writes
	// while the previous write is in progress into one write.
	NoCoalesce bool
}

// MQTTSink publishes through one paho client. Tokens are checked
// asynchronously, in order, by one goroutine; Send only blocks when the
// window is full. Send is safe for concurrent use, but not concurrently
// with Close.
type MQTTSink struct {
	cfg    MQTTConfig
	client mqtt.Client
	log    *slog.Logger
	tokens chan mqtt.Token
	done   chan struct{}
	errs   atomic.Int64
	acked  atomic.Int64
	once   sync.Once
	first  atomic.Pointer[error]
}

// NewMQTTSink connects to the broker (bounded by ctx and ConnectTimeout).
func NewMQTTSink(ctx context.Context, cfg MQTTConfig, log *slog.Logger) (*MQTTSink, error) {
	if cfg.Broker == "" {
		cfg.Broker = "tcp://127.0.0.1:1883"
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "firmware-sim-" + strconv.Itoa(os.Getpid())
	}
	if cfg.QoS > 2 {
		return nil, fmt.Errorf("mqtt sink: %w: qos: must be 0, 1 or 2, got %d", ErrConfig, cfg.QoS)
	}
	if cfg.Window == 0 {
		cfg.Window = 10000
		if cfg.QoS > 0 {
			cfg.Window = 1000
		}
	}
	if cfg.Window < 0 {
		return nil, fmt.Errorf("mqtt sink: %w: window: must be > 0, got %d", ErrConfig, cfg.Window)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &MQTTSink{cfg: cfg, log: log, tokens: make(chan mqtt.Token, cfg.Window), done: make(chan struct{})}
	s.client = mqtt.NewClient(s.options())
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	go s.watch()
	return s, nil
}

func (s *MQTTSink) options() *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().AddBroker(s.cfg.Broker).SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).SetPassword(s.cfg.Password).
		SetCleanSession(true).SetOrderMatters(false).SetAutoReconnect(true).
		SetMaxReconnectInterval(5 * time.Second).SetConnectTimeout(s.cfg.ConnectTimeout).
		SetWriteTimeout(30 * time.Second).SetKeepAlive(30 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { s.log.Warn("mqtt connection lost", "err", err) })
	if !s.cfg.NoCoalesce && coalescable(s.cfg.Broker) {
		o.SetCustomOpenConnectionFn(openCoalescing)
	}
	return o
}

func (s *MQTTSink) connect(ctx context.Context) error {
	tok := s.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return fmt.Errorf("mqtt connect %s: %w", s.cfg.Broker, ctx.Err())
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqtt connect %s: %w", s.cfg.Broker, err)
	}
	return nil
}

// watch waits for tokens in order and counts errors.
func (s *MQTTSink) watch() {
	defer close(s.done)
	for tok := range s.tokens {
		<-tok.Done()
		if err := tok.Error(); err != nil {
			if s.errs.Add(1) == 1 {
				s.first.Store(&err)
			}
			continue
		}
		s.acked.Add(1)
	}
}

// Send publishes payload (retained false). It returns ErrNotConnected
// when paho refuses the message because the client is down; other publish
// errors are counted asynchronously (Errors).
func (s *MQTTSink) Send(ctx context.Context, topic string, payload []byte) error {
	tok := s.client.Publish(topic, s.cfg.QoS, false, payload)
	select {
	case <-tok.Done(): // completed or failed at once (e.g. not connected)
		if err := tok.Error(); err != nil {
			s.errs.Add(1)
			if errors.Is(err, mqtt.ErrNotConnected) {
				return ErrNotConnected
			}
			return fmt.Errorf("mqtt publish: %w", err)
		}
		s.acked.Add(1)
		return nil
	default:
	}
	select {
	case s.tokens <- tok:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Storm disconnects and reconnects cycles times (clean disconnects, no
// quiesce: messages queued in paho are lost at QoS 0). Each cycle uses a
// fresh paho client with the same client id. Not safe concurrently with
// Send.
func (s *MQTTSink) Storm(ctx context.Context, cycles int) error {
	for range cycles {
		s.client.Disconnect(0)
		s.client = mqtt.NewClient(s.options())
		if err := s.connect(ctx); err != nil {
			return fmt.Errorf("storm: %w", err)
		}
	}
	return nil
}

// Errors returns how many publishes failed, and the first error.
func (s *MQTTSink) Errors() (int64, error) {
	if p := s.first.Load(); p != nil {
		return s.errs.Load(), *p
	}
	return s.errs.Load(), nil
}

// Completed returns how many publishes completed without error (QoS 0:
// written to the connection; QoS 1: acknowledged by the broker).
func (s *MQTTSink) Completed() int64 { return s.acked.Load() }

// Close waits (up to 30s) for outstanding tokens, then disconnects.
// Idempotent.
func (s *MQTTSink) Close() error {
	var err error
	s.once.Do(func() {
		close(s.tokens)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			err = errors.New("mqtt close: timed out waiting for publishes")
		}
		s.client.Disconnect(250)
	})
	return err
}
