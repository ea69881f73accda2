package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/trainset"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// publishToKafka runs a plant for days and produces its readings to
// edgepm.readings and its labels (firmware-sim's Labeler, lag 2h) to
// edgepm.labels; it returns the simulated start and end.
func publishToKafka(t *testing.T, seeds []string, machines, days int) (time.Time, time.Time) {
	t.Helper()
	p, err := sim.NewPlant(sim.Config{Seed: 9, Machines: machines, Interval: 10 * time.Minute,
		MeanTimeToOnset: 3 * 24 * time.Hour, MeanDegradation: 36 * time.Hour, RepairTime: 6 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := sim.NewKafkaLabelSink(seeds, trainset.DefaultLabelsTopic)
	if err != nil {
		t.Fatal(err)
	}
	lb, _ := sim.NewLabeler(ls, 2*time.Hour)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(trainset.DefaultReadingsTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := p.Now()
	var recs []*kgo.Record
	var buf []sim.Reading
	for range days * 144 {
		buf = p.StepInto(10*time.Minute, buf[:0])
		for _, r := range buf {
			lb.Observe(context.Background(), r)
			w := wire.Reading{V: wire.Version, Gateway: "gw", Device: r.Device, TS: r.Time.UnixMilli(), Received: r.Time.UnixMilli(), Values: r.Values}
			recs = append(recs, &kgo.Record{Key: []byte(r.Device), Value: wire.AppendReading(nil, &w, nil)})
		}
	}
	if err := errors.Join(cl.ProduceSync(context.Background(), recs...).FirstErr(), ls.Close()); err != nil {
		t.Fatal(err)
	}
	return start, p.Now()
}

// --from-kafka trains a package and writes the rows with their label; a
// range with too few failures is refused, saying how many it found.
func TestTrainFromKafka(t *testing.T) {
	seeds := testenv.StartKafka(t, kfake.DefaultNumPartitions(3)).Seeds()
	from, to := publishToKafka(t, seeds, 10, 30)
	dir := t.TempDir()
	o := defaultOptions()
	o.Out, o.Train.Epochs, o.Data.Every = filepath.Join(dir, "pkg"), 3, time.Hour
	ko := defaultKafkaOptions()
	ko.Brokers, ko.From, ko.To = strings.Join(seeds, ","), from.Format(time.RFC3339), to.Format(time.RFC3339)
	ko.RowsOut, ko.Train, ko.MinFailures = filepath.Join(dir, "rows.csv"), true, 3
	res, err := runKafka(context.Background(), o, ko)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model == nil || res.Model.Test.Rows == 0 || res.Set.Counts.Positives == 0 || res.Set.Counts.Partitions != 3 {
		t.Fatalf("result %+v, counts %+v", res.Model, res.Set.Counts)
	}
	if _, err := modelpkg.LoadPackageDir(o.Out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ko.RowsOut)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(res.Set.Rows)+1 || !strings.HasPrefix(lines[0], "device,window_end,vibration_rms.mean,") ||
		!strings.HasSuffix(lines[0], ",speed_rpm.min,label") {
		t.Fatalf("%d lines for %d rows, header %s", len(lines), len(res.Set.Rows), lines[0])
	}

	ko.MinFailures, ko.RowsOut = res.Set.Failures+1, ""
	_, err = runKafka(context.Background(), o, ko)
	var tf *trainset.TooFewFailuresError
	if !errors.As(err, &tf) || tf.Found != res.Set.Failures || tf.Need != res.Set.Failures+1 {
		t.Fatalf("err %v", err)
	}
}
