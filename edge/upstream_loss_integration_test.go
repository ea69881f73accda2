package edge_test

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/testenv"
	"github.com/edgepm/edgepm/internal/wire"
)

// stockMosquitto are Debian's default queue limits (what a stock broker
// runs with), and $SYS every second.
const stockMosquitto = "max_queued_messages 1000\nmax_inflight_messages 20\nsys_interval 1"

// pauseProxy is a TCP proxy whose broker-to-client direction can be
// paused: while paused, the appliance receives nothing (a stand-in for an
// appliance that does not keep up), so the broker's QoS 1 window and
// queue for its session fill.
type pauseProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
}

func startPauseProxy(t *testing.T, target string) *pauseProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pauseProxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); p.set(false); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(b, c); _ = b.Close() }()
			go func() { defer wg.Done(); p.down(c, b); _ = c.Close() }()
		}
	}()
	return p
}

func (p *pauseProxy) URL() string { return "tcp://" + p.ln.Addr().String() }

func (p *pauseProxy) set(paused bool) {
	p.mu.Lock()
	p.paused = paused
	p.cond.Broadcast()
	p.mu.Unlock()
}

// down copies broker to client, waiting while paused.
func (p *pauseProxy) down(c, b net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := b.Read(buf)
		p.mu.Lock()
		for p.paused {
			p.cond.Wait()
		}
		p.mu.Unlock()
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

type ingestStatus struct {
	Ingest struct {
		SeqGaps       uint64  `json:"seq_gaps"`
		SeqMissing    uint64  `json:"seq_missing"`
		SeqResets     uint64  `json:"seq_resets"`
		SeqDuplicates uint64  `json:"seq_duplicates"`
		BrokerDropped *uint64 `json:"broker_dropped"`
	} `json:"ingest"`
	Warnings []string `json:"warnings"`
}

func (s *stack) ingestStatus() ingestStatus {
	s.t.Helper()
	var st ingestStatus
	if err := json.Unmarshal(s.httpGet("/api/status"), &st); err != nil {
		s.t.Fatal(err)
	}
	return st
}

// burst runs the upstream-loss scenario on a broker configured with
// conf: while the appliance takes nothing (proxy paused) a device
// publishes n QoS 1 readings, seq 1..n; then the appliance catches up and
// one more reading (seq n+1) shows any gap. It returns the broker's $SYS
// dropped count growth and the appliance's status once every reading the
// broker kept is committed.
func burst(t *testing.T, conf string, n int) (s *stack, dropped uint64, st ingestStatus) {
	var proxy *pauseProxy
	s = startStackWith(t, stackOptions{
		mosquitto: []testenv.MosquittoOption{testenv.GlobalConf(conf)},
		broker: func(m *testenv.MosquittoServer) string {
			proxy = startPauseProxy(t, m.Addr())
			return proxy.URL()
		},
	}, "", "")
	s.waitFor("the broker's $SYS dropped count", 20*time.Second, func() bool { return s.ingestStatus().Ingest.BrokerDropped != nil })
	base := *s.ingestStatus().Ingest.BrokerDropped
	const topic = "plant/s1/l1/pump-1/telemetry"
	t0 := time.Now().Add(-time.Hour)
	proxy.set(true)
	s.mosquittoPub(topic, 1, readingLines(1, n, t0))
	proxy.set(false)
	// Every reading the broker kept reaches the buffer before the last
	// one is published (the broker's queue has room for it again). The
	// $SYS count is published every second: until it is up to date,
	// n minus it is more than can arrive.
	committed := func() int {
		k, _ := strconv.Atoi(metricLine(t, s.app, "edgepm_ingest_readings_total"))
		return k
	}
	droppedNow := func() uint64 { return *s.ingestStatus().Ingest.BrokerDropped - base }
	s.waitFor("every reading the broker kept", 30*time.Second, func() bool { return committed() == n-int(droppedNow()) })
	dropped = droppedNow()
	s.mosquittoPub(topic, 1, readingLines(n+1, 1, t0))
	s.waitFor("the last reading", 30*time.Second, func() bool { return committed() == n-int(dropped)+1 })
	return s, dropped, s.ingestStatus()
}

// TestStockMosquittoDropsAreCounted: with a stock Mosquitto (queue 1000,
// in-flight 20) a QoS 1 burst the appliance cannot take at once makes the
// broker drop messages; the readings missing in the device's seq counter
// equal the broker's own $SYS dropped count, the loss shows in status
// (and its warnings) and an ingest.upstream_loss event reaches Kafka.
func TestStockMosquittoDropsAreCounted(t *testing.T) {
	const n = 3000
	s, dropped, st := burst(t, stockMosquitto, n)
	if dropped == 0 {
		t.Fatalf("the stock broker dropped nothing of a %d-message burst (status %+v): the test shows nothing", n, st.Ingest)
	}
	if st.Ingest.SeqMissing != dropped || st.Ingest.SeqGaps != 1 || st.Ingest.SeqResets != 0 {
		t.Errorf("broker dropped %d; appliance counted %+v, want %d missing in 1 gap", dropped, st.Ingest, dropped)
	}
	if len(st.Warnings) == 0 {
		t.Errorf("no warning about the loss")
	}
	s.waitFor("a warning that the broker dropped messages", 10*time.Second, func() bool {
		return strings.Contains(strings.Join(s.ingestStatus().Warnings, "\n"), "the broker dropped messages")
	})
	if v := metricLine(t, s.app, "edgepm_mqtt_broker_messages_dropped_total"); v != strconv.FormatUint(dropped, 10) {
		t.Errorf("edgepm_mqtt_broker_messages_dropped_total %q, want %d", v, dropped)
	}
	seen := map[string]bool{}
	s.consume(30*time.Second, []string{"events"}, func(c *consumed) bool {
		for _, r := range c.recs["events"] {
			var ev struct {
				Type   string `json:"type"`
				Detail struct {
					Device  string `json:"device"`
					Missing uint64 `json:"missing"`
				} `json:"detail"`
			}
			if json.Unmarshal(r.Value, &ev) != nil {
				continue
			}
			seen[ev.Type] = true
			if ev.Type == wire.EventUpstreamLoss && (ev.Detail.Device != "pump-1" || ev.Detail.Missing != dropped) {
				t.Fatalf("upstream loss event %s, want device pump-1 missing %d", r.Value, dropped)
			}
		}
		return seen[wire.EventUpstreamLoss] && seen[wire.EventBrokerDropping]
	})
	t.Logf("stock Mosquitto: %d of %d dropped by the broker ($SYS), %d missing in seq counters: %v", dropped, n, st.Ingest.SeqMissing, st.Warnings)
}

// TestDropInMosquittoDropsNothing: the same burst with the shipped drop-in
// (deploy/mosquitto/edgepm.conf) included after the stock limits: nothing
// is dropped and no gap is counted.
func TestDropInMosquittoDropsNothing(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "mosquitto", "edgepm.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dropIn := testenv.ConfFile(t, "edgepm.conf", string(shipped)) // conf.d, readable by the broker
	state := filepath.Dir(testenv.ConfFile(t, "keep", ""))
	if err := os.Chmod(state, 0o777); err != nil { // persistence: the broker writes here
		t.Fatal(err)
	}
	conf := stockMosquitto + "\ninclude_dir " + filepath.Dir(dropIn) + "\npersistence_location " + state + "/"
	const n = 3000
	_, dropped, st := burst(t, conf, n)
	if dropped != 0 || st.Ingest.SeqMissing != 0 || st.Ingest.SeqGaps != 0 {
		t.Errorf("with the drop-in: broker dropped %d, appliance counted %+v; want nothing", dropped, st.Ingest)
	}
}

// TestRedeliveriesAndRestartsAreNotGaps: readings sent again with their
// old timestamps (what a QoS 1 redelivery after a reconnect is) count as
// duplicates, a counter that starts again at 1 with newer timestamps (a
// device restart) as a reset; neither is a gap.
func TestRedeliveriesAndRestartsAreNotGaps(t *testing.T) {
	s := startStack(t, "")
	const topic = "plant/s1/l1/pump-2/telemetry"
	t0 := time.Now().Add(-time.Hour)
	lines := readingLines(1, 10, t0)
	lines = append(lines, lines[4:7]...)                                 // seq 5..7 again, same ts
	lines = append(lines, readingLines(11, 1, t0)...)                    // in order again
	lines = append(lines, readingLines(1, 2, t0.Add(20*time.Second))...) // restart: seq 1, 2 at t0+21s, t0+22s
	s.mosquittoPub(topic, 1, lines)
	s.waitFor("every reading", 20*time.Second, func() bool {
		return metricLine(t, s.app, "edgepm_ingest_readings_total") == strconv.Itoa(len(lines))
	})
	in := s.ingestStatus().Ingest
	if in.SeqDuplicates != 3 || in.SeqResets != 1 || in.SeqGaps != 0 || in.SeqMissing != 0 {
		t.Errorf("ingest status %+v, want 3 duplicates, 1 reset, no gap", in)
	}
}
