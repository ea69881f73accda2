package bridge

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/internal/testenv"
)

// Records in flight when Run stops (the broker never answers) stay in the
// buffer; Run returns although they are never acknowledged (after
// ShutdownTimeout and the abort), and the next producer sends them all
// (at-least-once across restarts).
func TestProducerRestartResendsUnacknowledged(t *testing.T) {
	kafkaSrv := testenv.StartKafka(t)
	c, seeds := kafkaSrv.Cluster(), kafkaSrv.Seeds()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true // swallow: never answer
	})
	q := newTestQueue(t)
	base := lastSeq(q, buffer.StreamReadings)
	appendReadings(t, q, buffer.StreamReadings, 4, 300, map[string]int{})
	cfg := testConfig(seeds)
	cfg.ShutdownTimeout = 500 * time.Millisecond
	p, err := NewProducer(q, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)
	waitFor(t, 10*time.Second, "records in flight", func() bool { return p.Status().InFlight > 0 })
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped: // only a hang fails: Run must not wait for acknowledgements forever
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return with records in flight to a broker that never answers")
	}
	if n := bufferRecords(q, buffer.StreamReadings); n != 300 {
		t.Fatalf("buffer has %d records after an unacknowledged run, want 300", n)
	}

	srv := testenv.StartKafka(t)
	p2, err := NewProducer(q, testConfig(srv.Seeds()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runProducer(t, p2)
	recs := consume(t, srv.Seeds(), 300, 20*time.Second, "edgepm.readings")
	waitFor(t, 10*time.Second, "buffer emptied", func() bool { return bufferRecords(q, buffer.StreamReadings) == 0 })
	checkDelivery(t, recs, base, 300, 0)
}
