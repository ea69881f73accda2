package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgepm/edgepm/internal/testenv"
)

// subProxy is a TCP proxy in front of a broker that holds the client's
// first SUBSCRIBE packet until release is closed, so the broker's SUBACK
// comes as late as the test wants.
type subProxy struct {
	ln      net.Listener
	target  string
	held    chan struct{} // closed when a SUBSCRIBE is being held
	release chan struct{}
	once    sync.Once
	subs    chan []byte // the first SUBSCRIBE packets (16)
}

func startSubProxy(t *testing.T, target string) *subProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &subProxy{ln: ln, target: target, held: make(chan struct{}), release: make(chan struct{}), subs: make(chan []byte, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); p.Release(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c) }()
		}
	}()
	return p
}

func (p *subProxy) URL() string { return "tcp://" + p.ln.Addr().String() }

// Release lets the held SUBSCRIBE (and everything after it) through.
func (p *subProxy) Release() { p.once.Do(func() { close(p.release) }) }

func (p *subProxy) serve(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer b.Close()
	go func() { _, _ = io.Copy(c, b); _ = c.Close() }()
	r := bufio.NewReader(c)
	for {
		pkt, err := readPacket(r)
		if err != nil {
			return
		}
		if pkt[0]>>4 == 8 { // SUBSCRIBE
			select {
			case p.subs <- pkt:
			default:
			}
			select {
			case <-p.held:
			default:
				close(p.held)
			}
			<-p.release
		}
		if _, err := b.Write(pkt); err != nil {
			return
		}
	}
}

// readPacket reads one MQTT control packet (fixed header, variable-length
// remaining length, body).
func readPacket(r *bufio.Reader) ([]byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	pkt := []byte{h}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		pkt = append(pkt, d)
		n += int(d&0x7f) * mul
		mul *= 128
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return nil, errors.New("bad remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(pkt, body...), nil
}

// newSubTestClient starts a Client (and a Pipeline that delivers every
// reading's device seq to got) on broker.
func newSubTestClient(t *testing.T, broker, clientID string, clean bool) (*Client, <-chan uint64) {
	cfg := MQTTConfig{Broker: broker, ClientID: clientID, CleanSession: clean,
		Subscriptions: []Subscription{{Topic: "plant/{site}/{device}/telemetry"}}}
	cfg.SetDefaults("gw")
	in, err := NewClient(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan uint64, 100)
	p, err := NewPipeline(cfg.Subscriptions, ValidationConfig{}, func(b *Batch) func() error {
		for _, r := range b.Readings {
			got <- r.DeviceSeq
		}
		return func() error { return nil }
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); p.Run(in.Messages()) }()
	in.Start()
	t.Cleanup(func() {
		in.StopReceiving()
		<-done
		in.Disconnect(time.Second)
	})
	return in, got
}

func newPublisher(t *testing.T, broker string) mqtt.Client {
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("sub-test-pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { pub.Disconnect(100) })
	return pub
}

// TestConnectedWaitsForSuback: on a clean session, a reading published as
// soon as the client says it is connected is delivered, because connected
// means the broker's SUBACK arrived. A proxy holds the SUBSCRIBE back; a
// client that reported connected before the SUBACK loses the reading.
func TestConnectedWaitsForSuback(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	proxy := startSubProxy(t, broker.Addr())
	in, got := newSubTestClient(t, proxy.URL(), "suback-test", true)
	pub := newPublisher(t, broker.URL())
	select {
	case <-proxy.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the client never subscribed")
	}
	publish := func() {
		if tok := pub.Publish("plant/s/pump-1/telemetry", 1, false, `{"seq":7,"values":{"v":1}}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	// While the SUBSCRIBE is held the client must not say it is
	// connected. Give a wrong client a second to say so anyway; it then
	// publishes as a user watching the status would.
	published := false
	for end := time.Now().Add(time.Second); time.Now().Before(end) && !published; {
		if in.Connected() {
			publish()
			published = true
		}
		<-time.After(10 * time.Millisecond)
	}
	proxy.Release()
	for end := time.Now().Add(10 * time.Second); !in.Connected(); <-time.After(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("not connected 10s after the SUBSCRIBE was released")
		}
	}
	if !published {
		publish()
	}
	select {
	case seq := <-got:
		if seq != 7 {
			t.Fatalf("got seq %d, want 7", seq)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a reading published once the client said connected was never delivered: connected came before the SUBACK")
	}
}

// denySubscribeConf is a listener config whose dynamic-security plugin
// refuses every subscription with SUBACK 0x80 (Mosquitto's acl_file
// grants subscriptions and filters at delivery instead).
func denySubscribeConf(t *testing.T) testenv.MosquittoOption {
	plugins, _ := filepath.Glob("/usr/lib/*/mosquitto_dynamic_security.so")
	if len(plugins) == 0 {
		testenv.Missing(t, "mosquitto_dynamic_security.so (the mosquitto package ships it)")
	}
	conf := testenv.ConfFile(t, "dynsec.json", `{"defaultACLAccess":{"publishClientSend":true,`+
		`"publishClientReceive":true,"subscribe":false,"unsubscribe":true},"clients":[],"groups":[],"roles":[]}`)
	return testenv.ListenerConf("allow_anonymous true\nplugin " + plugins[0] + "\nplugin_opt_config_file " + conf + "\n")
}

// TestRefusedSubscriptionIsNotReady: a broker that denies the
// subscription answers SUBACK 0x80; the client then is not connected and
// says which filter was refused.
func TestRefusedSubscriptionIsNotReady(t *testing.T) {
	broker := testenv.StartMosquitto(t, denySubscribeConf(t))
	in, _ := newSubTestClient(t, broker.URL(), "acl-test", true)
	var err error
	for end := time.Now().Add(10 * time.Second); err == nil; <-time.After(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no subscribe error 10s after start")
		}
		err = in.SubscribeErr()
	}
	var se *SubscribeError
	if !errors.As(err, &se) || len(se.Filters) != 1 || se.Filters[0] != "plant/+/+/telemetry" {
		t.Fatalf("err = %v, want a SubscribeError naming plant/+/+/telemetry", err)
	}
	if in.Connected() {
		t.Error("connected with its subscription refused")
	}
}

// TestPersistentSessionSubscribesOnce: on a persistent session the client
// sends one SUBSCRIBE for its filters per connection and reports it
// granted (paho's resumed subscriptions used to race handleConnect: the
// SUBSCRIBE went out twice and the token completed without its SUBACK
// codes, which read as refused).
func TestPersistentSessionSubscribesOnce(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	proxy := startSubProxy(t, broker.Addr())
	proxy.Release()
	in, _ := newSubTestClient(t, proxy.URL(), "persistent-sub-test", false)
	for end := time.Now().Add(10 * time.Second); !in.Connected(); <-time.After(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not connected after 10s: %v", in.SubscribeErr())
		}
	}
	in.Disconnect(time.Second) // the $SYS SUBSCRIBE, if any, is out by now or never
	n := 0
	for len(proxy.subs) > 0 {
		if bytes.Contains(<-proxy.subs, []byte("plant/+/+/telemetry")) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d SUBSCRIBE packets for the ingest filter on one connection, want 1", n)
	}
}
