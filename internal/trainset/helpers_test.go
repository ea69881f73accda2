package trainset

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/inference/features"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testManifest is a small feature model; its stats make the plan impute
// as the gateway does.
func testManifest() *modelpkg.Manifest {
	man := &modelpkg.Manifest{Window: features.WindowConfig{Size: 10, Hop: 2}}
	for _, s := range []features.Spec{{Sensor: "vibration_rms", Stat: features.Mean}, {Sensor: "vibration_rms", Stat: features.Slope},
		{Sensor: "bearing_temp_c", Stat: features.Max}, {Sensor: "current_a", Stat: features.EWMA}, {Sensor: "speed_rpm", Stat: features.Std}} {
		man.Features = append(man.Features, s)
		man.FeatureStats = append(man.FeatureStats, modelpkg.FeatureStat{Mean: 1, Std: 1})
	}
	return man
}

// plantLog is what publishPlant wrote: the readings as the gateway saw
// them (JSON lines, no resends) and the truth's failures.
type plantLog struct {
	jsonl    bytes.Buffer
	failures map[string][]time.Time
	repairs  map[string][]time.Time // maintenance labels
	start    time.Time
	end      time.Time
}

// startKafka starts kfake with 4 partitions per topic.
func startKafka(t testing.TB) []string {
	return testenv.StartKafka(t, kfake.DefaultNumPartitions(4)).Seeds()
}

// publishPlant produces days of a small plant to the readings topic as the
// bridge does (key device, edgepm-gateway and edgepm-seq headers), with the
// bad input a real log has: a gap, readings missing a sensor, resends of
// records already sent, one undecodable record. Labels (lag 0) go to the
// labels topic, with one for a device that has no readings and one that is
// not a label.
func publishPlant(t testing.TB, seeds []string, machines, days int) *plantLog {
	t.Helper()
	p, err := sim.NewPlant(sim.Config{Seed: 5, Machines: machines, Interval: 10 * time.Minute,
		MeanTimeToOnset: 3 * 24 * time.Hour, MeanDegradation: 24 * time.Hour, RepairTime: 6 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lr := &labelCollect{}
	lb, _ := sim.NewLabeler(lr, 0)
	log := &plantLog{failures: map[string][]time.Time{}, repairs: map[string][]time.Time{}, start: p.Now()}
	var recs []*kgo.Record
	var seq uint64
	var buf []sim.Reading
	for step := 0; step < days*144; step++ {
		buf = p.StepInto(10*time.Minute, buf[:0])
		for i, r := range buf {
			lb.Observe(context.Background(), r)
			if r.Truth.Failed && (len(log.failures[r.Device]) == 0 || !log.failures[r.Device][len(log.failures[r.Device])-1].Equal(r.Truth.FailureAt)) {
				log.failures[r.Device] = append(log.failures[r.Device], r.Truth.FailureAt)
			}
			if i == 1 && step > 300 && step < 340 { // a gap: 40 readings never sent
				continue
			}
			values := r.Values
			if i == 2 && step%7 == 0 { // a sensor missing
				values = map[string]float64{"vibration_rms": r.Values["vibration_rms"]}
			}
			seq++
			w := wire.Reading{V: wire.Version, Gateway: "gw", Device: r.Device, TS: r.Time.UnixMilli(), Received: r.Time.UnixMilli(), Values: values}
			v := wire.AppendReading(nil, &w, nil)
			log.jsonl.Write(v)
			log.jsonl.WriteByte('\n')
			recs = append(recs, readingRecord(r.Device, v, seq))
			if step%50 == 10 && i == 0 { // a resend of the record 3 before
				old := recs[len(recs)-4] // a new *kgo.Record: the client owns the ones it produces
				recs = append(recs, &kgo.Record{Topic: old.Topic, Key: old.Key, Value: old.Value, Headers: old.Headers})
			}
		}
		log.end = p.Now()
	}
	for _, l := range lr.got {
		if l.Kind == wire.LabelMaintenance {
			log.repairs[l.Device] = append(log.repairs[l.Device], l.Time())
		}
	}
	recs = append(recs, &kgo.Record{Topic: DefaultReadingsTopic, Key: []byte("x"), Value: []byte("{not json")})
	for _, l := range append(lr.got, wire.Label{V: 1, Device: "ghost-1", TS: 5, Kind: wire.LabelFailure}) {
		recs = append(recs, &kgo.Record{Topic: DefaultLabelsTopic, Key: []byte(l.Device), Value: wire.MustJSON(l)})
	}
	recs = append(recs, &kgo.Record{Topic: DefaultLabelsTopic, Key: []byte("d"), Value: []byte(`{"v":1,"kind":"failure"}`)})
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return log
}

func readingRecord(device string, value []byte, seq uint64) *kgo.Record {
	return &kgo.Record{Topic: DefaultReadingsTopic, Key: []byte(device), Value: value, Headers: []kgo.RecordHeader{
		{Key: wire.HeaderSchema, Value: []byte("1")}, {Key: wire.HeaderGateway, Value: []byte("gw")},
		{Key: wire.HeaderStream, Value: []byte("readings")}, {Key: wire.HeaderSeq, Value: []byte(strconv.FormatUint(seq, 10))}}}
}

type labelCollect struct{ got []wire.Label }

func (c *labelCollect) SendLabel(_ context.Context, l wire.Label) error {
	c.got = append(c.got, l)
	return nil
}
func (c *labelCollect) Close() error { return nil }

func (l *plantLog) failuresBetween(from, to time.Time) int {
	n := 0
	for _, fs := range l.failures {
		for _, f := range fs {
			if !f.Before(from) && f.Before(to) {
				n++
			}
		}
	}
	return n
}

// downAt reports whether device was failed and not yet repaired at t.
func (l *plantLog) downAt(device string, t time.Time) bool {
	for _, f := range l.failures[device] {
		if t.Before(f) {
			continue
		}
		repaired := false
		for _, m := range l.repairs[device] {
			if !m.Before(f) && !m.After(t) {
				repaired = true
			}
		}
		if !repaired {
			return true
		}
	}
	return false
}

func describe(r Row) string { return fmt.Sprintf("%s@%d", r.Device, r.WindowEnd.UnixMilli()) }
