package main

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ev "github.com/edgepm/edgepm/internal/evaluate"
	"github.com/edgepm/edgepm/internal/schematest"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/trainset"
	"github.com/edgepm/edgepm/internal/wire"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// evalFixture is a plant's log in kfake, a challenger trained on its
// first 18 days (the right labels) and a champion trained on the same
// rows with the labels shuffled; the holdout is the last 12 days.
type evalFixture struct {
	o                         options
	ko                        kafkaOptions
	good, bad                 string // package directories
	holdoutFrom, holdoutUntil time.Time
	trained                   kafkaResult // the good package's training
	trainedKo                 kafkaOptions
}

func newEvalFixture(t *testing.T) *evalFixture {
	t.Helper()
	seeds := testenv.StartKafka(t, kfake.DefaultNumPartitions(3)).Seeds()
	from, to := publishToKafka(t, seeds, 10, 30)
	mid := from.Add(18 * 24 * time.Hour)
	dir := t.TempDir()
	f := &evalFixture{o: defaultOptions(), ko: defaultKafkaOptions(), good: filepath.Join(dir, "good"), bad: filepath.Join(dir, "bad"),
		holdoutFrom: mid, holdoutUntil: to}
	f.o.Out, f.o.Train.Epochs, f.o.Data.Every, f.o.Version = f.good, 5, time.Hour, "2.0.0"
	f.ko.Brokers, f.ko.From, f.ko.To = strings.Join(seeds, ","), from.Format(time.RFC3339), mid.Format(time.RFC3339)
	f.ko.Train, f.ko.MinFailures = true, 3
	res, err := runKafka(context.Background(), f.o, f.ko)
	if err != nil {
		t.Fatal(err)
	}
	f.trained, f.trainedKo = res, f.ko
	exs := examples(res.Set.Rows)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(exs), func(i, j int) { exs[i].y, exs[j].y = exs[j].y, exs[i].y })
	bo := f.o
	bo.Out, bo.Version = f.bad, "1.0.0"
	if _, err := fit(bo, defaultSpecs(), exs, kafkaSource(bo, f.ko, res.Set)); err != nil {
		t.Fatal(err)
	}
	f.ko.From, f.ko.To, f.ko.Train = mid.Format(time.RFC3339), to.Format(time.RFC3339), false
	return f
}

func (f *evalFixture) evaluate(t *testing.T, champion, challenger, report string) (*ev.Report, error) {
	t.Helper()
	eo := evalOptions{On: true, Champion: champion, Challenger: challenger, Report: report, Margin: ev.DefaultRule.Margin,
		Lib: testenv.ONNXRuntimeLib(t)}
	return runEvaluate(context.Background(), f.o, f.ko, eo)
}

// The challenger trained on the right labels beats the champion trained on
// shuffled ones (exit 0), the reverse keeps the champion (exit 3), and the
// JSON report matches docs/schemas/evaluation.schema.json.
func TestEvaluateChampionChallenger(t *testing.T) {
	f := newEvalFixture(t)
	prefix := filepath.Join(t.TempDir(), "eval")
	rep, err := f.evaluate(t, f.bad, f.good, prefix)
	if err != nil {
		t.Fatal(err)
	}
	good, bad := rep.Challenger.Metrics, rep.Champion.Metrics
	t.Logf("good %+v\nbad %+v\n%s", *good, *bad, rep.Decision.Reason)
	if exitCode(rep) != exitChallengerWins || !rep.Challenger.Valid || good.Recall <= bad.Recall || good.AUC <= bad.AUC {
		t.Fatalf("decision %+v, challenger %+v, champion %+v", rep.Decision, *good, *bad)
	}
	if good.Rows != bad.Rows || good.Positives != bad.Positives || good.Rows == 0 || rep.HoldoutFailures < 3 {
		t.Fatalf("not the same holdout: %+v %+v (%d failures)", *good, *bad, rep.HoldoutFailures)
	}
	if good.Alerted == 0 || good.LeadTimeMedianS == nil || *good.LeadTimeMedianS <= 0 || *good.LeadTimeMedianS > f.o.Data.Horizon.Seconds() {
		t.Fatalf("lead time: %+v", *good)
	}
	set, err := schematest.Load(filepath.Join(testenv.RepoRoot(), "docs", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(prefix + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := set.ValidateDoc("evaluation.schema.json", b); err != nil {
		t.Fatalf("report does not match its schema: %v\n%s", err, b)
	}
	if md, err := os.ReadFile(prefix + ".md"); err != nil || !strings.Contains(string(md), "**Winner: challenger.**") {
		t.Fatalf("markdown report: %v\n%s", err, md)
	}

	rev, err := f.evaluate(t, f.good, f.bad, "")
	if err != nil {
		t.Fatal(err)
	}
	if exitCode(rev) != exitChampionKeeps {
		t.Fatalf("reverse: %+v", rev.Decision)
	}

	// A challenger that fails validation (a sample the graph does not
	// reproduce) is never the winner, even against the bad champion.
	broken := filepath.Join(t.TempDir(), "broken")
	copyPackage(t, f.good, broken, func(man map[string]any) {
		s := man["samples"].([]any)[0].(map[string]any)
		s["output"] = []any{s["output"].([]any)[0].(float64) + 0.5}
	})
	inv, err := f.evaluate(t, f.bad, broken, filepath.Join(t.TempDir(), "inv"))
	if err != nil {
		t.Fatal(err)
	}
	if exitCode(inv) != exitChampionKeeps || inv.Challenger.Valid || inv.Challenger.Metrics != nil || !strings.Contains(inv.Decision.Reason, "fails validation") {
		t.Fatalf("invalid challenger: %+v %+v", inv.Challenger, inv.Decision)
	}

	// The events a training and these evaluations write match their schemas.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(f.ko.Brokers, ",")...), kgo.ConsumeTopics(eventsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, eventsTopic); err != nil {
		t.Fatal(err)
	}
	publishEvent(ctx, f.ko.Brokers, wire.EventModelTrained, trainedDetail(f.o, f.trainedKo, f.trained))
	for _, r := range []*ev.Report{rep, inv} {
		publishEvent(ctx, f.ko.Brokers, wire.EventModelEvaluated, evaluatedDetail(r))
	}
	var got []wire.Event
	for len(got) < 3 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if err := set.Validate("events", r.Value); err != nil {
				t.Errorf("%v\n%s", err, r.Value)
			}
			var e wire.Event
			_ = json.Unmarshal(r.Value, &e)
			got = append(got, e)
		})
	}
	if len(got) != 3 || got[0].Type != wire.EventModelTrained || got[0].Detail["version"] != "2.0.0" ||
		got[1].Detail["winner"] != "challenger" || got[1].Detail["challenger_recall"] != good.Recall ||
		got[2].Detail["winner"] != "champion" || got[2].Detail["challenger_recall"] != nil {
		t.Fatalf("events: %+v", got)
	}
}

// A holdout with too few failures is refused, saying how many it found
// and needs.
func TestEvaluateTooFewFailures(t *testing.T) {
	f := newEvalFixture(t)
	f.ko.MinFailures = 1000
	_, err := f.evaluate(t, f.bad, f.good, "")
	var tf *trainset.TooFewFailuresError
	if !errors.As(err, &tf) || tf.Need != 1000 || tf.Found < 3 || !strings.Contains(err.Error(), "1000") {
		t.Fatalf("err %v", err)
	}
}

// copyPackage copies a package directory, editing its manifest.
func copyPackage(t *testing.T, from, to string, edit func(map[string]any)) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	onnx, err := os.ReadFile(filepath.Join(from, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(from, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	edit(man)
	if b, err = json.Marshal(man); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.WriteFile(filepath.Join(to, "model.onnx"), onnx, 0o644), os.WriteFile(filepath.Join(to, "manifest.json"), b, 0o644)); err != nil {
		t.Fatal(err)
	}
}

// --evaluate without both packages or the holdout's brokers says which
// flag is missing.
func TestEvaluateFlags(t *testing.T) {
	ko := defaultKafkaOptions()
	for _, c := range []struct {
		eo   evalOptions
		ko   kafkaOptions
		want string
	}{
		{evalOptions{Challenger: "c"}, ko, "--champion"},
		{evalOptions{Champion: "a", Challenger: "c"}, ko, "--from-kafka"},
		{evalOptions{Champion: "a", Challenger: "c", Margin: -1}, kafkaOptions{Brokers: "x:1"}, "--margin"},
		{evalOptions{Champion: "a", Challenger: "c"}, kafkaOptions{Brokers: "x:1", From: "yesterday"}, "--from"},
	} {
		if _, err := runEvaluate(context.Background(), defaultOptions(), c.ko, c.eo); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want it to name %s", c.eo, err, c.want)
		}
	}
}
