package main

// The FD001 acceptance test of issue 7: a replay of NASA C-MAPSS FD001
// through edgepm produces one prediction per cycle per unit in Kafka.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	sim "github.com/edgepm/edgepm/firmware-sim"
	"github.com/edgepm/edgepm/internal/testenv"
)

// fd001Cycle is one replayed reading: which unit and cycle it was.
type fd001Cycle struct {
	device string
	cycle  int
	rul    int // true remaining useful life, cycles
}

// fd001Pred is one distinct prediction read from edgepm.predictions.
type fd001Pred struct {
	device    string
	windowEnd int64 // unix ms
	score     float64
	model     string
}

// TestFD001ReplayOnePredictionPerCycle replays FD001 with the firmware-sim
// replay over MQTT QoS 1 into edgepm serving models/cmapss-fd001: all 100
// units of test_FD001 (13,096 cycles) and of train_FD001 (20,631 cycles,
// run to failure), each into a fresh edgepm. edgepm.predictions must hold
// exactly one distinct prediction (de-duplicated by the edgepm-seq header)
// for every (unit, cycle), mapped through window_end == the reading's ts,
// and nothing else. The served scores must also reproduce the trainer's
// offline figures recorded in the manifest: training and serving compute
// the same features.
func TestFD001ReplayOnePredictionPerCycle(t *testing.T) {
	data := filepath.Join(testenv.DatasetsDir(t), "cmapss")
	for _, c := range []struct{ file, rul string }{{"test_FD001.txt", "RUL_FD001.txt"}, {"train_FD001.txt", ""}} {
		t.Run(strings.TrimSuffix(c.file, ".txt"), func(t *testing.T) {
			rows, rul := fd001Read(t, data, c.file, c.rul)
			testFD001Replay(t, rows, rul)
		})
	}
}

func testFD001Replay(t *testing.T, rows []sim.CMAPSSRow, rul []int) {
	modelDir := filepath.Join(testenv.RepoRoot(), "models", "cmapss-fd001")
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	cfgPath, httpAddr := writeConfig(t, t.TempDir(), broker.URL(), kafka.Seeds(), "  model_dir: "+modelDir+"\n")
	p := startProc(t, cfgPath, httpAddr)
	if strings.Contains(p.logs(), "model package rejected") {
		t.Fatalf("models/cmapss-fd001 rejected:\n%s", p.logs())
	}

	// Cycle c of a unit is stamped start + c seconds: distinct, whole
	// milliseconds, within the default clock-skew limit.
	cfg := sim.ReplayConfig{Interval: time.Second, Start: time.Now().Add(-time.Hour).Truncate(time.Second), RUL: rul}
	want := fd001Expected(t, rows, cfg)

	began := time.Now()
	sent := fd001Publish(t, broker.URL(), rows, cfg)
	published := time.Since(began)
	if sent != len(want) {
		t.Fatalf("published %d readings, want %d", sent, len(want))
	}
	preds, total := fd001Consume(t, kafka.Seeds(), len(want), 60*time.Second)
	t.Logf("%d readings published in %s (QoS 1); %d distinct predictions (%d records) after %s",
		sent, published.Round(time.Millisecond), len(preds), total, time.Since(began).Round(time.Millisecond))

	got := map[string]fd001Pred{}
	for _, pr := range preds {
		key := fd001Key(pr.device, pr.windowEnd)
		if _, ok := want[key]; !ok {
			t.Errorf("prediction for %s at %d matches no replayed cycle", pr.device, pr.windowEnd)
			continue
		}
		if prev, dup := got[key]; dup {
			t.Errorf("two distinct predictions for %s cycle %d: %+v and %+v", pr.device, want[key].cycle, prev, pr)
			continue
		}
		if pr.model != "cmapss-fd001:1.0.0" {
			t.Fatalf("prediction from model %q, want cmapss-fd001:1.0.0 (model_dir not served?)", pr.model)
		}
		got[key] = pr
	}
	missing := 0
	for key, c := range want {
		if _, ok := got[key]; !ok {
			if missing++; missing <= 5 {
				t.Errorf("no prediction for %s cycle %d", c.device, c.cycle)
			}
		}
	}
	if missing > 0 || t.Failed() {
		st, _ := p.status()
		t.Fatalf("%d of %d cycles without a prediction; status %+v; metrics:\n%s\n%s\n%s\nlog:\n%s", missing, len(want), st,
			p.metrics("edgepm_ingest_readings_total"), p.metrics("edgepm_inference_r"), p.metrics("edgepm_inference_rows_scored_total"), p.logs())
	}
	fd001CheckFigures(t, modelDir, rul != nil, want, got)
	if err := p.term(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
}

// fd001Read reads a C-MAPSS file and, if rulFile is set, its RUL file.
func fd001Read(t *testing.T, dir, file, rulFile string) ([]sim.CMAPSSRow, []int) {
	t.Helper()
	open := func(name string) *os.File {
		fh, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fh.Close() })
		return fh
	}
	rows, err := sim.ReadCMAPSS(open(file))
	if err != nil {
		t.Fatal(err)
	}
	if rulFile == "" {
		return rows, nil
	}
	rul, err := sim.ReadRUL(open(rulFile))
	if err != nil {
		t.Fatal(err)
	}
	return rows, rul
}

func fd001Key(device string, tsMs int64) string { return fmt.Sprintf("%s@%d", device, tsMs) }

// fd001Expected runs a second replay with the same config and returns, per
// (device, ts) key, the cycle it is: what the published replay sends.
func fd001Expected(t *testing.T, rows []sim.CMAPSSRow, cfg sim.ReplayConfig) map[string]fd001Cycle {
	t.Helper()
	rp, err := sim.NewReplay(rows, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]fd001Cycle, rp.Len())
	for rs, ok := rp.Next(); ok; rs, ok = rp.Next() {
		for _, r := range rs {
			key := fd001Key(r.Device, r.Time.UnixMilli())
			if _, dup := want[key]; dup {
				t.Fatalf("two readings share %s", key)
			}
			want[key] = fd001Cycle{device: r.Device, cycle: int(r.Seq), rul: int(r.Truth.RUL / cfg.Interval)}
		}
	}
	return want
}

// fd001Publish replays rows as `firmware-sim --replay-cmapss` does (the
// same sim.Replay, publisher and MQTT sink), unthrottled at QoS 1, and
// returns how many readings the broker acknowledged.
func fd001Publish(t *testing.T, broker string, rows []sim.CMAPSSRow, cfg sim.ReplayConfig) int {
	t.Helper()
	rp, err := sim.NewReplay(rows, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sink, err := sim.NewMQTTSink(ctx, sim.MQTTConfig{Broker: broker, ClientID: "fd001-replay", QoS: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sim.NewPublisher(rp, sink, sim.PublisherConfig{Rate: 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Run(ctx); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := sink.Errors(); n > 0 {
		t.Fatalf("%d publishes failed: %v", n, err)
	}
	return int(sink.Completed())
}

// fd001Consume reads edgepm.predictions until n distinct predictions
// (de-duplicated by gateway, stream and edgepm-seq) arrived or d passed,
// then for one more second to catch extras. total counts records with
// duplicates.
func fd001Consume(t *testing.T, seeds []string, n int, d time.Duration) (preds []fd001Pred, total int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("edgepm.predictions"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var grace <-chan time.Time
	for ctx.Err() == nil {
		if len(preds) >= n && grace == nil {
			grace = time.After(time.Second)
		}
		pollCtx, pollCancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pollCtx)
		pollCancel()
		fs.EachRecord(func(r *kgo.Record) {
			total++
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			id := h["edgepm-gateway"] + "/" + h["edgepm-stream"] + "/" + h["edgepm-seq"]
			if h["edgepm-seq"] == "" {
				t.Errorf("prediction record without edgepm-seq: %s", r.Value)
			}
			if seen[id] {
				return
			}
			seen[id] = true
			var v struct {
				Device    string  `json:"device"`
				WindowEnd int64   `json:"window_end"`
				Score     float64 `json:"score"`
			}
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Errorf("prediction value %s: %v", r.Value, err)
				return
			}
			preds = append(preds, fd001Pred{device: v.Device, windowEnd: v.WindowEnd, score: v.Score, model: h["edgepm-model"]})
		})
		if grace != nil {
			select {
			case <-grace:
				return preds, total
			default:
			}
		}
	}
	return preds, total
}

// fd001CheckFigures compares the served predictions with the figures the
// trainer computed offline with the same feature code and wrote into the
// manifest (truth capped at 125): for test_FD001 the RMSE and PHM08 score at
// each unit's last cycle and the RMSE over every cycle, for train_FD001 the
// RMSE over every cycle. ONNX Runtime and the trainer's Go float32
// evaluation differ only by rounding, so the figures agree to 0.01.
func fd001CheckFigures(t *testing.T, modelDir string, test bool, want map[string]fd001Cycle, got map[string]fd001Pred) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(modelDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	type fig struct {
		RMSE  float64 `json:"rmse"`
		Score float64 `json:"phm08_score"`
	}
	var man struct {
		Training struct {
			Last  fig `json:"test_last_cycle_capped"`
			All   fig `json:"test_every_cycle_capped"`
			Train fig `json:"train_every_cycle_capped"`
		} `json:"training"`
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	lastCycle := map[string]int{}
	for _, c := range want {
		lastCycle[c.device] = max(lastCycle[c.device], c.cycle)
	}
	var sqAll, sqLast, score float64
	for key, c := range want {
		d := got[key].score - float64(min(c.rul, 125))
		sqAll += d * d
		if c.cycle == lastCycle[c.device] {
			sqLast += d * d
			if d < 0 {
				score += math.Exp(-d/13) - 1
			} else {
				score += math.Exp(d/10) - 1
			}
		}
	}
	rmseAll := math.Sqrt(sqAll / float64(len(want)))
	if !test {
		t.Logf("served: RMSE %.2f over all %d cycles (trainer: %.2f)", rmseAll, len(want), man.Training.Train.RMSE)
		if math.Abs(rmseAll-man.Training.Train.RMSE) > 0.01 {
			t.Errorf("served figures differ from the trainer's: train/serve skew")
		}
		return
	}
	rmseLast := math.Sqrt(sqLast / float64(len(lastCycle)))
	t.Logf("served: RMSE %.2f / PHM08 score %.1f at the last cycle of %d units, RMSE %.2f over all %d cycles (trainer: %.2f / %.1f, %.2f)",
		rmseLast, score, len(lastCycle), rmseAll, len(want), man.Training.Last.RMSE, man.Training.Last.Score, man.Training.All.RMSE)
	if math.Abs(rmseLast-man.Training.Last.RMSE) > 0.01 || math.Abs(rmseAll-man.Training.All.RMSE) > 0.01 ||
		math.Abs(score-man.Training.Last.Score) > 0.1 {
		t.Errorf("served figures differ from the trainer's: train/serve skew")
	}
}
