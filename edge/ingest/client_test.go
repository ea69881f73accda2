package ingest

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgepm/edgepm/internal/testenv"
)

// TestBackpressureKeepsConnection: while commits are blocked for more than
// three keepalive intervals and the queue is full, the connection stays up
// (paho keeps reading, so its keepalive is answered), and after the unblock
// every message arrives exactly once (nothing redelivered).
func TestBackpressureKeepsConnection(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	const keepAlive = time.Second
	const n = 3000 // more than the queue plus what the pipeline holds (4 batches)
	cfg := MQTTConfig{Broker: broker.URL(), ClientID: "bp-test", MaxUnacked: 20, KeepAlive: keepAlive,
		Subscriptions: []Subscription{{Topic: "plant/{site}/{device}/telemetry"}}}
	cfg.SetDefaults("gw")
	var lost atomic.Int32
	up := make(chan struct{}, 16)
	in, err := NewClient(cfg, slog.New(slog.DiscardHandler), func(connected bool) {
		if connected {
			up <- struct{}{}
		} else {
			lost.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		seen    = map[uint64]int{}
		probe   = make(chan struct{}, 1)
		all     = make(chan struct{})
		blocked atomic.Bool
		release = make(chan struct{})
	)
	sink := func(b *Batch) func() error {
		var seqs []uint64
		for _, r := range b.Readings {
			seqs = append(seqs, r.DeviceSeq)
		}
		return func() error {
			if blocked.Load() {
				<-release
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range seqs {
				if s == 0 {
					select {
					case probe <- struct{}{}:
					default:
					}
					continue
				}
				seen[s]++
				if len(seen) == n && seen[s] == 1 {
					close(all)
				}
			}
			return nil
		}
	}
	p, err := NewPipeline(cfg.Subscriptions, ValidationConfig{}, sink, nil)
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
	<-up

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("bp-pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	const topic = "plant/s/pump-1/telemetry"
	// The subscription is made on paho's goroutine: probe until it is live.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
probing:
	for {
		select {
		case <-probe:
			break probing
		case <-tick.C:
			pub.Publish(topic, 1, false, `{"values":{"v":1}}`)
		case <-time.After(10 * time.Second):
			t.Fatal("subscription never delivered")
		}
	}

	blocked.Store(true)
	for i := 1; i <= n; i++ {
		tok := pub.Publish(topic, 1, false, fmt.Sprintf(`{"seq":%d,"values":{"v":%s}}`, i, strconv.Itoa(i)))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	// Hold the commits for more than three keepalive intervals (and the
	// ping timeout paho derives from the keepalive).
	<-time.After(4*keepAlive + time.Second)
	close(release)
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		t.Fatalf("%d of %d messages arrived", len(seen), n)
	}
	if l := lost.Load(); l != 0 {
		t.Errorf("the connection was lost %d times under backpressure", l)
	}
	mu.Lock()
	defer mu.Unlock()
	for s, c := range seen {
		if c != 1 {
			t.Errorf("message %d arrived %d times (redelivered)", s, c)
		}
	}
}
