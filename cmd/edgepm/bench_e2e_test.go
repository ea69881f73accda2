//go:build benche2e

package main

// make bench-e2e: firmware-sim -> Mosquitto -> edgepm -> kfake on this
// machine. It prints figures; it asserts nothing about speed.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/models"
)

func buildSim(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(filepath.Dir(edgepmBin), "firmware-sim")
	if out, err := exec.Command("go", "build", "-o", bin, "../firmware-sim").CombinedOutput(); err != nil {
		t.Fatalf("build firmware-sim: %v\n%s", err, out)
	}
	return bin
}

func runSim(bin, broker string, qos, machines int, interval time.Duration, rate float64, count int, extra ...string) error {
	args := []string{"--broker", broker, "--qos", strconv.Itoa(qos), "--machines", strconv.Itoa(machines),
		"--interval", interval.String(), "--accel", "1", "--rate", fmt.Sprint(rate), "--count", strconv.Itoa(count),
		"--quiet", "--client-id", fmt.Sprintf("bench-sim-%d", time.Now().UnixNano())}
	args = append(args, extra...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("firmware-sim %v: %v\n%s", args, err, out)
	}
	return nil
}

// bareCeiling counts what a bare paho subscriber receives of the same load.
func bareCeiling(t *testing.T, sim string, qos, machines, count int) float64 {
	broker := testenv.StartMosquitto(t)
	var n atomic.Int64
	var first, last atomic.Int64
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("bare-sub").SetOrderMatters(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe("plant/+/+/+/telemetry", byte(qos), func(mqtt.Client, mqtt.Message) {
		now := time.Now().UnixNano()
		if n.Add(1) == 1 {
			first.Store(now)
		}
		last.Store(now)
	}).Wait()
	if err := runSim(sim, broker.URL(), qos, machines, time.Second, 0, count); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for n.Load() < int64(count) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := n.Load()
	secs := float64(last.Load()-first.Load()) / 1e9
	t.Logf("bare paho subscriber QoS %d: %d of %d messages in %.2fs", qos, got, count, secs)
	return float64(got) / secs
}

type procStats struct {
	cpu   float64
	hwmMB float64
	// Windows scored by the served model and by a shadow model, and the
	// shadow's windows dropped because it was behind (at the end of a run).
	scored, shadowScored, shadowDropped float64
}

func readProc(pid int) procStats {
	var st procStats
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
		ut, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		st.cpu = (ut + stime) / 100 // USER_HZ
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
				st.hwmMB = kb / 1024
			}
		}
	}
	return st
}

// edgepmThroughput drives count messages as fast as the simulator can and
// reports edgepm's sustained committed readings/s.
func edgepmThroughput(t *testing.T, sim string, qos, machines, count int) (rate float64, ps procStats) {
	return formatThroughput(t, sim, qos, machines, count, benchFormats[0])
}

// benchFormat is a payload format as the simulator writes it (--format)
// and the edgepm subscription that reads it.
type benchFormat struct {
	name, sim, sub string
	inference      string // extra inference: keys (indented lines)
	// arrived: the rate counts readings acknowledged by Kafka (from the
	// first to the last), not readings committed to the buffer.
	arrived bool
}

// benchFormats are the rows of the per-format throughput (the first is
// edgepm's own format, the reference).
var benchFormats = []benchFormat{
	{name: "edgepm", sim: "object"},
	{name: "flat", sim: "flat", sub: ", format: flat, flat: {device_field: device, seq_field: seq}"},
	{name: "telegraf", sim: "telegraf", sub: ", format: telegraf, telegraf: {timestamp_unit: ms, measurement_prefix: false}"},
	{name: "sparkplug_b", sim: "sparkplug_b", sub: ", format: sparkplug_b"}, // its topics come from the sparkplug block
}

// topicKey is the subscription's topic key: none for sparkplug_b, whose
// topics follow from its (default) sparkplug block.
func (f benchFormat) topicKey() string {
	if f.name == "sparkplug_b" {
		return ""
	}
	return `topic: "plant/{site}/{line}/{device}/telemetry", `
}

// formatThroughput is edgepmThroughput with payloads in format f.
func formatThroughput(t *testing.T, sim string, qos, machines, count int, f benchFormat) (rate float64, ps procStats) {
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	cfgPath, httpAddr := writeConfig(t, t.TempDir(), broker.URL(), kafka.Seeds(), f.inference)
	if qos == 0 || f.sub != "" {
		b, _ := os.ReadFile(cfgPath)
		sub := fmt.Sprintf("subscriptions: [{%sqos: %d%s}]", f.topicKey(), qos, f.sub)
		s := strings.Replace(string(b), "mqtt: {broker: "+broker.URL()+", client_id: edgepm-e2e}",
			"mqtt: {broker: "+broker.URL()+", client_id: edgepm-e2e, "+sub+"}", 1)
		os.WriteFile(cfgPath, []byte(s), 0o644)
	}
	if opts := os.Getenv("BENCH_E2E_KAFKA"); opts != "" { // e.g. "compression: lz4", for experiments
		b, _ := os.ReadFile(cfgPath)
		os.WriteFile(cfgPath, []byte(strings.Replace(string(b), "create_topics: true}", "create_topics: true, "+opts+"}", 1)), 0o644)
	}
	profDir := os.Getenv("BENCH_E2E_PROFILE") // write a CPU profile of edgepm under load here
	if profDir != "" {
		b, _ := os.ReadFile(cfgPath)
		os.WriteFile(cfgPath, []byte(strings.Replace(string(b), `http: {listen: "`+httpAddr+`"}`,
			`http: {listen: "`+httpAddr+`", pprof: true}`, 1)), 0o644)
	}
	p := startProc(t, cfgPath, httpAddr, strings.Fields(os.Getenv("BENCH_E2E_EDGEPM_ENV"))...)
	cpu0 := readProc(p.cmd.Process.Pid).cpu
	start := time.Now()
	profDone := make(chan struct{})
	profiling := false
	simErr := make(chan error, 1)
	go func() { simErr <- runSim(sim, broker.URL(), qos, machines, time.Second, 0, count, "--format", f.sim) }()
	want := count // messages, one reading each
	if f.name == "sparkplug_b" {
		want-- // the session's NBIRTH carries only bdSeq, no reading (a DBIRTH's values are one)
	}
	deadline := time.Now().Add(120 * time.Second)
	var firstT, lastT time.Time
	var firstN, lastN float64
	for time.Now().Before(deadline) {
		v := metricValue(p, "edgepm_ingest_readings_total")
		n := v
		if f.arrived {
			n = metricValue(p, `edgepm_bridge_records_acked_total{stream="readings"}`)
		}
		if n > 0 && firstT.IsZero() {
			firstT, firstN = time.Now(), n
		}
		if profDir != "" && v > 0 && !profiling {
			profiling = true
			go func() {
				defer close(profDone)
				time.Sleep(500 * time.Millisecond) // into the steady state
				fetchProfile(t, httpAddr, "heap", filepath.Join(profDir, fmt.Sprintf("edgepm-qos%d.heap", qos)))
				which, ext := "profile?seconds=2", "prof"
				if os.Getenv("BENCH_E2E_TRACE") != "" {
					which, ext = "trace?seconds=1", "trace"
				}
				fetchProfile(t, httpAddr, which, filepath.Join(profDir, fmt.Sprintf("edgepm-qos%d.%s", qos, ext)))
			}()
		}
		if n > lastN {
			lastT, lastN = time.Now(), n
		}
		if v >= float64(want) && n >= float64(want) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := <-simErr; err != nil {
		t.Fatal(err)
	}
	ps = readProc(p.cmd.Process.Pid)
	ps.cpu = (ps.cpu - cpu0) / time.Since(start).Seconds()
	ps.scored = metricValue(p, "edgepm_inference_rows_scored_total")
	ps.shadowScored = metricValue(p, "edgepm_inference_shadow_rows_scored_total")
	ps.shadowDropped = metricValue(p, `edgepm_inference_shadow_dropped_total{reason="queue_full"}`)
	if profiling {
		<-profDone
		fetchProfile(t, httpAddr, "allocs", filepath.Join(profDir, fmt.Sprintf("edgepm-qos%d.allocs", qos)))
	}
	_ = p.term(30 * time.Second)
	if lastN < float64(want) {
		t.Logf("edgepm committed (arrived: %v) only %.0f of %d readings", f.arrived, lastN, want)
	}
	return (lastN - firstN) / lastT.Sub(firstT).Seconds(), ps
}

// fetchProfile saves a profile of the running edgepm (which: a
// /debug/pprof/ path such as "profile?seconds=2" or "allocs").
func fetchProfile(t *testing.T, httpAddr, which, path string) {
	resp, err := http.Get("http://" + httpAddr + "/debug/pprof/" + which)
	if err != nil {
		t.Logf("profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Logf("profile: %v", err)
		return
	}
	t.Logf("profile of edgepm: %s", path)
}

// latency runs a paced load and measures publish (reading ts) to
// prediction consumed from Kafka.
func latency(t *testing.T, sim string, perSec int, secs int) (p50, p99 time.Duration, n int, ps procStats) {
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	cfgPath, httpAddr := writeConfig(t, t.TempDir(), broker.URL(), kafka.Seeds(), "")
	p := startProc(t, cfgPath, httpAddr)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka.Seeds()...), kgo.ConsumeTopics("edgepm.predictions"),
		kgo.FetchMaxWait(50*time.Millisecond), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The load is paced here rather than by firmware-sim so that each
	// reading's ts is the moment it is published (the simulator stamps
	// simulated time, which starts on a whole second).
	done := make(chan error, 1)
	go func() { done <- pacedPublish(broker.URL(), perSec, secs) }()
	var lats []time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
	defer cancel()
	skipUntil := time.Now().Add(2 * time.Second) // warm-up
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			var v struct {
				WindowEnd int64 `json:"window_end"`
			}
			if json.Unmarshal(r.Value, &v) == nil && now.After(skipUntil) {
				lats = append(lats, now.Sub(time.UnixMilli(v.WindowEnd)))
			}
		})
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			done = nil
			time.AfterFunc(time.Second, cancel) // the last predictions
		default:
		}
	}
	ps = readProc(p.cmd.Process.Pid)
	_ = p.term(30 * time.Second)
	if len(lats) == 0 {
		t.Fatal("no predictions consumed")
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	return lats[len(lats)/2], lats[len(lats)*99/100], len(lats), ps
}

func TestBenchE2E(t *testing.T) {
	sim := buildSim(t)
	count := benchCount()
	fmt.Printf("machine: %d cores (%s/%s), %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	parts := os.Getenv("BENCH_E2E_PARTS") // "throughput", "formats", "latency" or all (empty)
	rounds := benchRounds()
	for _, qos := range []int{1, 0} {
		if parts == "latency" || parts == "formats" || parts == "shadow" {
			break
		}
		// Each round measures the ceiling and then edgepm, back to back,
		// so both see the same machine; the median round is the figure
		// (single runs on a shared 2-core VM swing by +-10%).
		var fracs, rates, ceilings []float64
		var peak float64
		for r := range rounds {
			ceiling := bareCeiling(t, sim, qos, 1000, count)
			rate, ps := edgepmThroughput(t, sim, qos, 1000, count)
			fmt.Printf("QoS %d round %d: edgepm %.0f readings/s committed, bare paho ceiling %.0f msg/s -> %.0f%% of ceiling; edgepm CPU %.2f cores, peak RSS %.0f MB\n",
				qos, r+1, rate, ceiling, 100*rate/ceiling, ps.cpu, ps.hwmMB)
			fracs, rates, ceilings = append(fracs, rate/ceiling), append(rates, rate), append(ceilings, ceiling)
			peak = max(peak, ps.hwmMB)
		}
		slices.Sort(fracs)
		slices.Sort(rates)
		slices.Sort(ceilings)
		fmt.Printf("QoS %d: median of %d rounds: %.0f%% of ceiling (range %.0f-%.0f%%); edgepm %.0f readings/s (%.0f-%.0f), ceiling %.0f msg/s (%.0f-%.0f); peak RSS %.0f MB\n",
			qos, rounds, 100*median(fracs), 100*fracs[0], 100*fracs[len(fracs)-1], median(rates), rates[0], rates[len(rates)-1],
			median(ceilings), ceilings[0], ceilings[len(ceilings)-1], peak)
	}
	if parts == "" || parts == "formats" {
		benchFormatRows(t, sim, count, rounds)
	}
	if parts == "" || parts == "shadow" {
		benchShadowRows(t, sim, count, rounds)
	}
	if parts == "throughput" || parts == "formats" || parts == "shadow" {
		return
	}
	p50, p99, n, ps := latency(t, sim, 5000, 20)
	fmt.Printf("latency at 5,000 readings/s QoS 1 (publish -> prediction consumed from Kafka, %d predictions): p50 %s, p99 %s; peak RSS %.0f MB\n",
		n, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), ps.hwmMB)
}

// benchFormatRows prints committed readings/s per payload format at QoS
// 1. Each round runs every format back to back (starting with a different
// one each round), so they see the same machine; the figure is the median
// round, and each format's ratio to the edgepm format's rate of the same
// round.
func benchFormatRows(t *testing.T, sim string, count, rounds int) {
	rates := make([][]float64, len(benchFormats))
	ratios := make([][]float64, len(benchFormats))
	for r := range rounds {
		round := make([]float64, len(benchFormats))
		for k := range benchFormats { // a different format first each round
			i := (k + r) % len(benchFormats)
			rate, ps := formatThroughput(t, sim, 1, 1000, count, benchFormats[i])
			round[i] = rate
			fmt.Printf("format %s round %d: %.0f readings/s arrived in Kafka; CPU %.2f cores, peak RSS %.0f MB\n",
				benchFormats[i].name, r+1, rate, ps.cpu, ps.hwmMB)
		}
		for i, rate := range round {
			rates[i], ratios[i] = append(rates[i], rate), append(ratios[i], rate/round[0])
		}
	}
	for i, f := range benchFormats {
		slices.Sort(rates[i])
		slices.Sort(ratios[i])
		fmt.Printf("format %s QoS 1: median of %d rounds: %.0f readings/s (%.0f-%.0f), %.0f%% of edgepm format (%.0f-%.0f%%)\n",
			f.name, rounds, median(rates[i]), rates[i][0], rates[i][len(rates[i])-1],
			100*median(ratios[i]), 100*ratios[i][0], 100*ratios[i][len(ratios[i])-1])
	}
}

// benchShadowRows prints readings/s arrived in Kafka at QoS 1 (edgepm format)
// without and with a shadow model (the default model under another
// version, inference.shadow_model_dir: the same windows scored twice),
// back to back in each round, a different one first each round; the
// figure is the median round and the median ratio of the two rates, with
// the share of the served windows the shadow scored (the rest it dropped,
// being behind).
func benchShadowRows(t *testing.T, sim string, count, rounds int) {
	plain := benchFormats[0]
	plain.arrived = true
	shadow := plain
	shadow.name, shadow.inference = "edgepm+shadow", "  shadow_model_dir: "+shadowModelDir(t)
	runs := []benchFormat{plain, shadow}
	var rates [2][]float64
	var ratios, kept []float64
	for r := range rounds {
		var round [2]float64
		for k := range runs {
			i := (k + r) % len(runs)
			rate, ps := formatThroughput(t, sim, 1, 1000, count, runs[i])
			round[i] = rate
			fmt.Printf("%s round %d: %.0f readings/s arrived in Kafka; CPU %.2f cores, peak RSS %.0f MB; windows scored %.0f, by the shadow %.0f, shadow dropped %.0f\n",
				runs[i].name, r+1, rate, ps.cpu, ps.hwmMB, ps.scored, ps.shadowScored, ps.shadowDropped)
			if i == 1 && ps.scored > 0 {
				kept = append(kept, ps.shadowScored/ps.scored)
			}
		}
		rates[0], rates[1] = append(rates[0], round[0]), append(rates[1], round[1])
		ratios = append(ratios, round[1]/round[0])
	}
	for _, v := range [][]float64{rates[0], rates[1], ratios, kept} {
		slices.Sort(v)
	}
	fmt.Printf("scoring with a shadow model, QoS 1: median of %d rounds: %.0f readings/s (%.0f-%.0f) vs %.0f without (%.0f-%.0f): %.0f%% (%.0f-%.0f%%); the shadow scored %.0f%% of the served windows (%.0f-%.0f%%)\n",
		rounds, median(rates[1]), rates[1][0], rates[1][len(rates[1])-1], median(rates[0]), rates[0][0], rates[0][len(rates[0])-1],
		100*median(ratios), 100*ratios[0], 100*ratios[len(ratios)-1], 100*median(kept), 100*kept[0], 100*kept[len(kept)-1])
}

// shadowModelDir writes the embedded default model as version
// 1.0.0-shadow (same input, same scores) and returns its directory.
func shadowModelDir(t *testing.T) string {
	mb, onnx := models.Default()
	man, err := modelpkg.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	man.Version = "1.0.0-shadow"
	pkg, err := modelpkg.NewPackage(man, onnx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := modelpkg.WritePackageDir(dir, pkg); err != nil {
		t.Fatal(err)
	}
	return dir
}

// benchRounds is the throughput rounds per QoS ($BENCH_E2E_ROUNDS, default 5).
func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_E2E_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 5
}

// median of sorted values.
func median(v []float64) float64 {
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// benchCount is the messages per throughput run ($BENCH_E2E_COUNT, default 300,000).
func benchCount() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_E2E_COUNT")); err == nil && n > 0 {
		return n
	}
	return 300000
}

// pacedPublish publishes perSec QoS 1 readings a second for secs seconds,
// spread over 100 devices, each stamped with its publish time.
func pacedPublish(url string, perSec, secs int) error {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("bench-pub"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	const devices = 100
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	perTick := perSec / 100
	seq := 0
	for range secs * 100 {
		<-tick.C
		for range perTick {
			seq++
			d := seq % devices
			payload := fmt.Sprintf(`{"ts":%d,"seq":%d,"values":{"vibration_rms":%.2f,"vibration_kurtosis":3.0,"bearing_temp_c":61.5,"current_a":12.1,"speed_rpm":1480}}`,
				time.Now().UnixMilli(), seq/devices, 2+float64(seq%7)*0.1)
			c.Publish(fmt.Sprintf("plant/site1/line1/pump-%03d/telemetry", d), 1, false, payload)
		}
	}
	return nil
}
