package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// --labels-to-kafka publishes the truth's failures and repairs to the
// labels topic, each reported --labels-lag after it happened; failures
// less than the lag before the end are not published yet. Machines added
// part-way (--add-machines) are labelled like the initial ones.
func TestLabelsToKafka(t *testing.T) {
	seeds := testenv.StartKafka(t).Seeds()
	truth := filepath.Join(t.TempDir(), "truth.jsonl")
	_, errOut, err := runCmd(t, "--stdout", "--rate", "0", "--machines", "20", "--interval", "10m", "--count", "86400",
		"--mean-onset", "48h", "--mean-degradation", "24h", "--repair-time", "6h", "--truth-file", truth,
		"--labels-to-kafka", strings.Join(seeds, ","), "--labels-topic", "plant.labels", "--labels-lag", "36h",
		"--add-at", "72h", "--add-machines", "5", "--add-classes", "conveyor")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	fh, _ := os.Open(truth)
	gt, err := sim.ReadTruth(fh)
	fh.Close()
	if err != nil {
		t.Fatal(err)
	}
	end := time.Time{}
	for _, s := range gt.Span {
		if s[1].After(end) {
			end = s[1]
		}
	}
	var sent, pending int
	if i := strings.Index(errOut, "labels: "); i < 0 {
		t.Fatalf("no labels summary:\n%s", errOut)
	} else if _, err := fmt.Sscanf(errOut[i:], "labels: %d published to plant.labels, %d not yet due", &sent, &pending); err != nil {
		t.Fatalf("labels summary: %v\n%s", err, errOut[i:])
	}
	labels := consumeLabels(t, seeds, "plant.labels", sent)
	byKey := map[string]wire.Label{}
	for _, l := range labels {
		if l.Reported-l.TS != (36 * time.Hour).Milliseconds() {
			t.Fatalf("label %+v: not reported 36h after it happened", l)
		}
		byKey[l.Device+"/"+l.Kind+"/"+l.Time().UTC().Format(time.RFC3339Nano)] = l
	}
	due, addedDue := 0, 0
	for _, f := range gt.Failures {
		_, ok := byKey[f.Device+"/failure/"+f.At.UTC().Format(time.RFC3339Nano)]
		if isDue := !f.At.Add(36 * time.Hour).After(end); isDue != ok {
			t.Errorf("failure of %s at %s (due %v) published %v", f.Device, f.At, isDue, ok)
		} else if ok {
			due++
			if strings.HasPrefix(f.Device, sim.ClassConveyor) {
				addedDue++
			}
		}
		if r := f.RepairedAt; !r.IsZero() && !r.Add(36*time.Hour).After(end) {
			if _, ok := byKey[f.Device+"/maintenance/"+r.UTC().Format(time.RFC3339Nano)]; !ok {
				t.Errorf("repair of %s at %s not published", f.Device, r)
			}
		}
	}
	if due == 0 || pending == 0 || addedDue == 0 {
		t.Fatalf("%d failure labels published, %d of added machines, %d pending (%d failures in the truth); stderr:\n%s",
			due, addedDue, pending, len(gt.Failures), errOut)
	}
}

// consumeLabels reads n labels (the command waited for their
// acknowledgement before it returned).
func consumeLabels(t *testing.T, seeds []string, topic string, n int) []wire.Label {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []wire.Label
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d labels: %v", len(out), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			l, err := wire.DecodeLabel(r.Value)
			if err != nil || string(r.Key) != l.Device || r.Timestamp.UnixMilli() != l.Reported {
				t.Errorf("record %s=%s (ts %s): %v", r.Key, r.Value, r.Timestamp, err)
			}
			out = append(out, l)
		})
	}
	return out
}

// Labels that Kafka does not take (here the topic does not exist and the
// cluster does not create topics) are reported while the run goes on, and
// the run fails: a CMMS stream lost is not a success.
func TestLabelsToMissingTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	_, errOut, err := runCmd(t, "--stdout", "--rate", "0", "--machines", "20", "--interval", "10m", "--count", "20000",
		"--mean-onset", "48h", "--mean-degradation", "24h", "--repair-time", "6h",
		"--labels-to-kafka", strings.Join(c.ListenAddrs(), ","), "--labels-topic", "plant.labels", "--labels-lag", "1h")
	if err == nil || !strings.Contains(err.Error(), "produce label to plant.labels: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("err %v, stderr:\n%s", err, errOut)
	}
}
