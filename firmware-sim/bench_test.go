package sim

import (
	"context"
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/testenv"
)

func BenchmarkStep1000(b *testing.B) {
	p, _ := NewPlant(Config{Seed: 1, Machines: 1000})
	var rs []Reading
	b.ReportAllocs()
	for b.Loop() {
		rs = p.StepInto(time.Second, rs[:0])
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "readings/s")
}

func BenchmarkEncodePayload(b *testing.B) {
	r := sampleReading()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPayload(buf[:0], r)
	}
}

// BenchmarkPublishMQTT measures the whole path (plant step, encode,
// publish at QoS 0) to a private mosquitto; msgs/s is the figure that
// issue 7 asks to be >= 100,000.
func BenchmarkPublishMQTT(b *testing.B) {
	broker := testenv.StartMosquitto(b).URL()
	sink, err := NewMQTTSink(context.Background(), MQTTConfig{Broker: broker}, nil)
	if err != nil {
		b.Fatal(err)
	}
	p, _ := NewPlant(Config{Seed: 1, Machines: 1000})
	pub, err := NewPublisher(&PlantSource{Plant: p, Interval: time.Second}, sink, PublisherConfig{Count: int64(b.N)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := pub.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n, err := sink.Errors(); n > 0 {
		b.Fatalf("%d publish errors: %v", n, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
