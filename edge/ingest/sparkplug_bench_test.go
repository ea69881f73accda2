package ingest

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/internal/testenv"
)

// BenchmarkSparkplugNDATA decodes a Sparkplug B DDATA of 20 aliased double
// metrics as the Pipeline does (session and value maps lent, recycled per
// message), after the device's birth: alias resolution, seq check,
// validation. msg/s is messages per second of wall-clock time,
// cpu-msg/s per second of the benchmark thread's CPU time (what one core
// does when no other process takes it; wall-clock where unavailable).
//
//	go test -run '^$' -bench SparkplugNDATA -benchtime 200000x -cpu 1 ./edge/ingest
func BenchmarkSparkplugNDATA(b *testing.B) {
	cfg := SparkplugConfig{}
	cfg.setDefaults()
	v := ValidationConfig{}
	v.SetDefaults()
	d := newSparkplugDecoder(&rules{cfg: v}, &Subscription{Format: FormatSparkplugB, Sparkplug: &cfg})
	s, sc := newSpSession(), newScratch()
	births := []sim.SparkplugMetric{{Name: "bdSeq", Type: sim.SparkplugUInt64}}
	data := make([]sim.SparkplugMetric, 20)
	for i := range data {
		births = append(births, sim.SparkplugMetric{Name: fmt.Sprintf("sensor_%02d", i), Alias: uint64(i + 1), HasAlias: true, Type: sim.SparkplugDouble, Value: 1})
		data[i] = sim.SparkplugMetric{Alias: uint64(i + 1), HasAlias: true, Type: sim.SparkplugDouble, Value: float64(i) + 0.5}
	}
	now := time.Now()
	decode := func(topic string, payload []byte) []Reading {
		src := Source{Device: "gw1/pump-7", Topic: topic, Received: now, session: s, sc: sc}
		rs, err := d.Decode(sc.readings[:0], src, payload)
		if err != nil {
			b.Fatal(err)
		}
		return rs
	}
	decode("spBv1.0/plant/NBIRTH/gw1", sim.AppendSparkplugPayload(nil, now, 0, births[:1]))
	decode("spBv1.0/plant/DBIRTH/gw1/pump-7", sim.AppendSparkplugPayload(nil, now, 1, births[1:]))
	var payloads [256][]byte // one per seq
	for i := range payloads {
		payloads[i] = sim.AppendSparkplugPayload(nil, now, uint64(i), data)
	}
	b.SetBytes(int64(len(payloads[0])))
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, cpuOK := testenv.ThreadCPU()
	seq := 1
	for b.Loop() {
		seq = (seq + 1) % 256
		rs := decode("spBv1.0/plant/DDATA/gw1/pump-7", payloads[seq])
		if len(rs) != 1 || len(rs[0].Values) != 20 {
			b.Fatalf("got %+v", rs)
		}
		sc.readings = rs
		sc.recycle()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	if cpu1, ok := testenv.ThreadCPU(); ok && cpuOK && cpu1 > cpu0 {
		b.ReportMetric(float64(b.N)/(cpu1-cpu0).Seconds(), "cpu-msg/s")
	}
}
