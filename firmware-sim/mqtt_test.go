package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgepm/edgepm/internal/testenv"
	"go.uber.org/goleak"
)

var subN atomic.Int64

// subscribe collects the payloads on filter. wait(n) returns once n have
// arrived and a marker message, published by another client after them, has
// come through too, so messages that were still on their way when the n-th
// arrived are included (extras show up instead of being missed).
func subscribe(t *testing.T, broker, filter string, qos byte) (wait func(n int) []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	arrived := make(chan struct{}, 1)
	marker := strings.TrimSuffix(filter, "#") + "zz-marker"
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("sub-%d", subN.Add(1))))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(filter, qos, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got = append(got, m.Topic()+" "+string(m.Payload()))
		mu.Unlock()
		select {
		case arrived <- struct{}{}:
		default:
		}
	})
	if tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	// until waits for a line satisfying done, at most 20 s in all.
	deadline := time.NewTimer(20 * time.Second)
	t.Cleanup(func() { deadline.Stop() })
	until := func(done func([]string) bool) {
		for {
			mu.Lock()
			ok := done(got)
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-arrived:
			case <-deadline.C:
				return
			}
		}
	}
	return func(n int) []string {
		until(func(lines []string) bool { return len(lines) >= n })
		if tok := c.Publish(marker, 1, false, "m"); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		until(func(lines []string) bool { return slices.Contains(lines, marker+" m") })
		mu.Lock()
		defer mu.Unlock()
		out := make([]string, 0, len(got))
		for _, l := range got {
			if l != marker+" m" {
				out = append(out, l)
			}
		}
		return out
	}
}

// Published messages arrive at a real mosquitto, in order per device, equal
// to what the stdout sink writes.
func TestMQTTPublish(t *testing.T) {
	broker := testenv.StartMosquitto(t).URL()
	for _, qos := range []byte{0, 1} {
		wait := subscribe(t, broker, "plant/#", 1)
		ctx := context.Background()
		sink, err := NewMQTTSink(ctx, MQTTConfig{Broker: broker, QoS: qos, ClientID: "pub-test"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := NewPlant(Config{Seed: 1, Machines: 20})
		pub, err := NewPublisher(&PlantSource{Plant: p, Interval: time.Second}, sink, PublisherConfig{Count: 2000}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		if n, err := sink.Errors(); n != 0 || sink.Completed() != 2000 {
			t.Fatalf("qos %d: errors %d (%v), completed %d", qos, n, err, sink.Completed())
		}
		got := wait(2000)
		want := expectedLines(t, 2000)
		if len(got) != len(want) {
			t.Fatalf("qos %d: received %d, want %d", qos, len(got), len(want))
		}
		// Per device order is guaranteed; compare as multiset per topic order.
		byTopic := func(lines []string) map[string][]string {
			m := map[string][]string{}
			for _, l := range lines {
				topic, _, _ := strings.Cut(l, " ")
				m[topic] = append(m[topic], l)
			}
			return m
		}
		g, w := byTopic(got), byTopic(want)
		for topic, lines := range w {
			if len(g[topic]) != len(lines) {
				t.Fatalf("qos %d %s: %d messages, want %d (first got: %.120s)", qos, topic, len(g[topic]), len(lines), got[0])
			}
			for i := range lines {
				if g[topic][i] != lines[i] {
					t.Fatalf("qos %d %s message %d:\n got %s\nwant %s", qos, topic, i, g[topic][i], lines[i])
				}
			}
		}
	}
}

func expectedLines(t *testing.T, n int) []string {
	p, _ := NewPlant(Config{Seed: 1, Machines: 20})
	var out []string
	for len(out) < n {
		for _, r := range p.Step(time.Second) {
			out = append(out, Topic("", DefaultSite, DefaultLine, r.Device, r.Class)+" "+string(EncodePayload(r)))
		}
	}
	return out[:n]
}

func TestMQTTConnectFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := NewMQTTSink(ctx, MQTTConfig{Broker: "tcp://127.0.0.1:1", ConnectTimeout: time.Second}, nil); err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
}

func TestMQTTStorm(t *testing.T) {
	broker := testenv.StartMosquitto(t).URL()
	wait := subscribe(t, broker, "plant/#", 1)
	sink, err := NewMQTTSink(context.Background(), MQTTConfig{Broker: broker, QoS: 1, ClientID: "storm"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Storm(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(context.Background(), "plant/x", []byte("after storm")); err != nil {
		t.Fatal(err)
	}
	if got := wait(1); len(got) != 1 || got[0] != "plant/x after storm" {
		n, err := sink.Errors()
		t.Fatalf("got %q; errors %d %v, connected %v", got, n, err, sink.client.IsConnected())
	}
}

// Close stops every goroutine the sink started.
func TestMQTTSinkNoLeak(t *testing.T) {
	broker := testenv.StartMosquitto(t).URL()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sink, err := NewMQTTSink(context.Background(), MQTTConfig{Broker: broker}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := sink.Send(context.Background(), "plant/x", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal("second close:", err)
	}
}
