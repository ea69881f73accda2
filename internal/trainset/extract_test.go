package trainset

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgepm/edgepm/inference/replay"
)

func extractCfg(seeds []string, log *plantLog) Config {
	man := testManifest()
	plan, _ := man.Plan()
	return Config{Brokers: seeds, From: log.start, To: log.end.Add(time.Hour), Plan: plan, Window: man.Window,
		Horizon: 24 * time.Hour}
}

// exportRows is `edgepm features export` of the readings the gateway saw
// (cmd/edgepm's exportFeatures: replay.Read, a replay.Exporter with the
// manifest's plan, replay.RowWriter), lines sorted by device, then time.
func exportRows(t *testing.T, log *plantLog) (string, replay.Counts) {
	t.Helper()
	man := testManifest()
	plan, _ := man.Plan()
	x, err := replay.NewExporter(plan, man.Window)
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	err = replay.Read(bytes.NewReader(log.jsonl.Bytes()), replay.FormatJSONL, func(r replay.Reading) error {
		row, ok, err := x.Push(r)
		if ok {
			rows = append(rows, Row{Row: row})
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(rows, func(a, b Row) int { return strings.Compare(a.Device, b.Device) })
	return csvRows(t, rows), x.Counts
}

func csvRows(t *testing.T, rows []Row) string {
	var b bytes.Buffer
	w, _ := replay.NewRowWriter(&b, testManifest().InputColumns())
	for _, r := range rows {
		if err := w.Write(r.Row); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	return b.String()
}

// Without labels (no labels topic), extraction from Kafka writes exactly
// the rows features export computes from the readings the gateway saw:
// resends are dropped, gaps and missing sensors go through the same
// feature code; the bad record is counted.
func TestExtractEqualsFeaturesExport(t *testing.T) {
	seeds := startKafka(t)
	log := publishPlant(t, seeds, 6, 10)
	want, wantCounts := exportRows(t, log)
	cfg := extractCfg(seeds, log)
	cfg.LabelsTopic = "no.labels"
	res, err := Extract(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := csvRows(t, res.Rows); got != want {
		t.Fatalf("rows differ from features export: %d bytes vs %d", len(got), len(want))
	}
	c := res.Counts
	if c.Counts != wantCounts || c.Undecodable != 1 || c.Duplicates == 0 || c.Partitions != 4 || c.Devices != 6 || c.Kept != c.Rows {
		t.Fatalf("counts %+v, features export %+v", c, wantCounts)
	}
	if c.MissingSensors == 0 {
		t.Fatal("no reading with a missing sensor: the test does not test it")
	}
}

// With labels: a row is positive iff a failure of its device follows its
// window end within the horizon; rows while down are dropped; the
// unknown device's label and the bad label are counted; the failures in
// the range are counted; Every thins the rows.
func TestExtractLabels(t *testing.T) {
	seeds := startKafka(t)
	log := publishPlant(t, seeds, 6, 12)
	cfg := extractCfg(seeds, log)
	res, err := Extract(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Labels.UnknownDeviceLabels != 1 || res.Labels.BadLabels != 1 {
		t.Fatalf("labels %+v", res.Labels)
	}
	if want := log.failuresBetween(cfg.From, cfg.To); res.Failures != want || want < 3 {
		t.Fatalf("%d failures counted, %d in the truth", res.Failures, want)
	}
	for dev, fs := range log.failures {
		got := res.FailureTimes(dev)
		if len(got) != len(fs) {
			t.Fatalf("%s: failure times %v, truth %v", dev, got, fs)
		}
		for i := range fs {
			if got[i].UnixMilli() != fs[i].UnixMilli() {
				t.Fatalf("%s: failure times %v, truth %v", dev, got, fs)
			}
		}
	}
	if res.FailureTimes("no-such-device") != nil {
		t.Fatal("failure times of a device without labels")
	}
	pos := 0
	for _, r := range res.Rows {
		want := 0.0
		for _, f := range log.failures[r.Device] {
			if !f.Before(r.WindowEnd) && !f.After(r.WindowEnd.Add(cfg.Horizon)) {
				want = 1
			}
		}
		if log.downAt(r.Device, r.WindowEnd) {
			t.Fatalf("row %s kept while its device was down", describe(r))
		}
		if r.Label != want {
			t.Fatalf("row %s labelled %v, want %v", describe(r), r.Label, want)
		}
		pos += int(r.Label)
	}
	if pos == 0 || pos != res.Counts.Positives || res.Counts.Down == 0 {
		t.Fatalf("%d positives (counted %d), %d rows down", pos, res.Counts.Positives, res.Counts.Down)
	}
	cfg.Every = 6 * time.Hour
	thin, err := Extract(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if thin.Counts.Thinned == 0 || thin.Counts.Kept+thin.Counts.Thinned != res.Counts.Kept {
		t.Fatalf("every 6h: kept %d thinned %d, of %d", thin.Counts.Kept, thin.Counts.Thinned, res.Counts.Kept)
	}
}

// A range with too few failures: CheckFailures says how many it found and
// how many it needs.
func TestTooFewFailures(t *testing.T) {
	seeds := startKafka(t)
	log := publishPlant(t, seeds, 3, 4)
	cfg := extractCfg(seeds, log)
	res, err := Extract(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	found := log.failuresBetween(cfg.From, cfg.To)
	err = res.CheckFailures(found + 1)
	var tf *TooFewFailuresError
	if !errors.As(err, &tf) || tf.Found != found || tf.Need != found+1 ||
		!strings.Contains(err.Error(), "failures found in the labels, at least") {
		t.Fatalf("err %v", err)
	}
	if err := res.CheckFailures(found); err != nil {
		t.Fatal(err)
	}
}

// Five members sharing a group (one more than the partitions) extract
// every partition exactly once between them, whoever gets which, and all
// of them return.
func TestExtractSharedGroup(t *testing.T) {
	seeds := startKafka(t)
	log := publishPlant(t, seeds, 6, 6)
	cfg := extractCfg(seeds, log)
	one, err := Extract(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Group = "shared"
	var wg sync.WaitGroup
	results := make([]*Result, 5)
	errs := make([]error, 5)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = Extract(context.Background(), cfg) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var rows []Row
	parts := 0
	for _, r := range results {
		rows = append(rows, r.Rows...)
		parts += r.Counts.Partitions
		t.Logf("member: %d partitions, %d rows", r.Counts.Partitions, len(r.Rows))
	}
	slices.SortStableFunc(rows, func(a, b Row) int { return strings.Compare(a.Device, b.Device) })
	if parts != 4 || csvRows(t, rows) != csvRows(t, one.Rows) {
		t.Fatalf("shared: %d partitions, %d rows; alone %d rows", parts, len(rows), len(one.Rows))
	}
}

func TestConfigErrors(t *testing.T) {
	plan, _ := testManifest().Plan()
	good := Config{Brokers: []string{"x:1"}, From: time.Unix(1, 0), To: time.Unix(2, 0), Horizon: time.Hour, Plan: plan}
	for name, c := range map[string]func(*Config){
		"brokers": func(c *Config) { c.Brokers = nil }, "range": func(c *Config) { c.To = c.From },
		"plan": func(c *Config) { c.Plan = nil }, "horizon": func(c *Config) { c.Horizon = 0 },
		"every": func(c *Config) { c.Every = -1 }, "window": func(c *Config) { c.Window.Hop = -1 },
	} {
		cfg := good
		c(&cfg)
		if _, err := Extract(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
