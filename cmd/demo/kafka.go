package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaWatch consumes what the appliance delivered to Kafka, to show that
// the uplink works end to end.
type kafkaWatch struct {
	cl     *kgo.Client
	mu     sync.Mutex
	counts map[string]int
	scores map[string]float64  // device -> latest score seen in Kafka
	seqs   map[string]struct{} // edgepm-seq headers of readings records: distinct deliveries
}

func newKafkaWatch(seeds []string) (*kafkaWatch, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumeTopics("edgepm.readings", "edgepm.predictions", "edgepm.alerts", "edgepm.events", "edgepm.deadletter"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	return &kafkaWatch{cl: cl, counts: map[string]int{}, scores: map[string]float64{}, seqs: map[string]struct{}{}}, nil
}

func (k *kafkaWatch) run(ctx context.Context) {
	for ctx.Err() == nil {
		fs := k.cl.PollFetches(ctx)
		k.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			stream := strings.TrimPrefix(r.Topic, "edgepm.")
			k.counts[stream]++
			if stream == "readings" {
				// At least once: a record produced again after a retry
				// carries the same gateway sequence number.
				for _, h := range r.Headers {
					if h.Key == "edgepm-seq" {
						k.seqs[string(h.Value)] = struct{}{}
					}
				}
			}
			if stream == "predictions" {
				var v struct {
					Device string  `json:"device"`
					Score  float64 `json:"score"`
				}
				if json.Unmarshal(r.Value, &v) == nil {
					k.scores[v.Device] = v.Score
				}
			}
		})
		k.mu.Unlock()
	}
}

func (k *kafkaWatch) count(stream string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.counts[stream]
}

// distinctReadings is the number of readings records in Kafka, each
// counted once.
func (k *kafkaWatch) distinctReadings() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.seqs)
}

// settle waits until want distinct readings were consumed (what the
// appliance delivered), or d passed.
func (k *kafkaWatch) settle(want int, d time.Duration) {
	for deadline := time.Now().Add(d); k.distinctReadings() < want && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
}

func (k *kafkaWatch) close() { k.cl.Close() }
