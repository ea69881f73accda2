package bridge

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/testenv"
)

func TestProducerDeliversKeysHeadersValues(t *testing.T) {
	srv := testenv.StartKafka(t)
	q := newTestQueue(t)
	counter := map[string]int{}
	appendReadings(t, q, buffer.StreamReadings, 10, 500, counter)
	appendReadings(t, q, buffer.StreamAlerts, 3, 20, map[string]int{})

	p, err := NewProducer(q, testConfig(srv.Seeds()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)
	recs := consume(t, srv.Seeds(), 520, 20*time.Second, "edgepm.readings", "edgepm.alerts")
	waitFor(t, 5*time.Second, "buffer emptied", func() bool {
		return bufferRecords(q, buffer.StreamReadings) == 0 && bufferRecords(q, buffer.StreamAlerts) == 0
	})
	stop()

	seen := map[string]bool{}
	for _, r := range recs {
		stream := strings.TrimPrefix(r.topic, "edgepm.")
		if r.headers[HeaderGateway] != "gw-test" || r.headers[HeaderStream] != stream || r.headers["edgepm-schema"] != "1" {
			t.Fatalf("headers %v on %s", r.headers, r.topic)
		}
		if _, ok := r.headers[HeaderBacklog]; ok {
			t.Fatalf("small backlog marked as backlog: %v", r.headers)
		}
		var v struct {
			Device string `json:"device"`
		}
		if err := json.Unmarshal([]byte(r.value), &v); err != nil || v.Device != r.key {
			t.Fatalf("value %q key %q", r.value, r.key)
		}
		seen[fmt.Sprintf("%s/%d", stream, r.seq)] = true
	}
	for s := 1; s <= 500; s++ {
		if !seen[fmt.Sprintf("readings/%d", s)] {
			t.Fatalf("readings seq %d missing", s)
		}
	}
	st := p.Status()
	if st.Streams[0].Stream != buffer.StreamAlerts {
		t.Fatalf("drain order %v", st.Streams)
	}
}

// A cluster that is not there at start-up blocks nothing; nothing leaves the
// buffer until the cluster appears and acknowledges.
func TestProducerUnreachableAtStartup(t *testing.T) {
	port := testenv.FreePort(t)
	seeds := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	q := newTestQueue(t)
	appendReadings(t, q, buffer.StreamReadings, 5, 200, map[string]int{})

	start := time.Now()
	p, err := NewProducer(q, testConfig(seeds), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("NewProducer took %s", d)
	}
	runProducer(t, p)
	waitFor(t, 5*time.Second, "offline", func() bool { return p.Status().State == StateOffline })
	time.Sleep(300 * time.Millisecond)
	if n := bufferRecords(q, buffer.StreamReadings); n != 200 {
		t.Fatalf("buffer has %d records while Kafka is down, want 200", n)
	}
	if st := p.Status(); st.LastError == "" || st.Backlog.Records < 200 {
		t.Fatalf("status %+v", st)
	}

	srv := startKafkaOn(t, port)
	consume(t, srv.Seeds(), 200, 20*time.Second, "edgepm.readings")
	waitFor(t, 10*time.Second, "buffer emptied", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })
	if st := p.Status(); !st.Online {
		t.Fatalf("status %+v", st)
	}
}
