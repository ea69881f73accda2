package edge_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/edge"
	"github.com/edgepm/edgepm/internal/testenv"
)

// tahuNode is the Eclipse Tahu JavaScript Sparkplug client (npm
// sparkplug-client, testdata/tahu) run by node as edge node gw1 of group
// plant with device pump-7, driven by commands (see testdata/tahu/node.js).
type tahuNode struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string
	cmd   *exec.Cmd
}

// tahuDir returns testdata/tahu with its npm packages installed (npm ci
// from the committed package-lock.json when they are missing).
func tahuDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("testdata/tahu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node (apt-get install nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "sparkplug-client")); err == nil {
		return dir
	}
	if _, err := exec.LookPath("npm"); err != nil {
		testenv.Missing(t, "npm (apt-get install npm), to install testdata/tahu")
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}

func startTahuNode(t *testing.T, broker string) *tahuNode {
	t.Helper()
	dir := tahuDir(t)
	cmd := exec.Command("node", filepath.Join(dir, "node.js"), broker)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &tahuNode{t: t, stdin: stdin, lines: make(chan string, 64), cmd: cmd}
	go func() {
		defer close(n.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			n.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		fmt.Fprintln(stdin, "exit")
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return n
}

// do sends a command and waits for the line want.
func (n *tahuNode) do(command, want string) {
	n.t.Helper()
	if _, err := fmt.Fprintln(n.stdin, command); err != nil {
		n.t.Fatalf("tahu %s: %v", command, err)
	}
	n.expect(want)
}

func (n *tahuNode) expect(want string) {
	n.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-n.lines:
			if !ok {
				n.t.Fatalf("tahu node exited waiting for %q", want)
			}
			if strings.HasPrefix(line, "error") {
				n.t.Fatalf("tahu node: %s", line)
			}
			if line == want {
				return
			}
		case <-timeout:
			n.t.Fatalf("tahu node: no %q within 30s", want)
		}
	}
}

// deviceState is a device's /api/status entry: "" when absent, else
// "online" or "offline".
func deviceState(app *edge.App, device string) string {
	for _, d := range app.Status().Devices {
		if d.Device == device {
			if d.Offline {
				return "offline"
			}
			return "online"
		}
	}
	return ""
}

// TestSparkplugTahuClient: a real Eclipse Tahu client publishes births,
// alias-only data, a seq gap (edgepm asks for a rebirth, the client
// answers with new births), a device death, a node death and a reconnect
// with a new bdSeq; edgepm turns them into readings, a dead letter and
// device.online/device.offline events, and shows offline devices in its
// status.
func TestSparkplugTahuClient(t *testing.T) {
	s := startStackMQTT(t, `  subscriptions:
    - format: sparkplug_b
      sparkplug: {groups: [plant], rebirth: {enabled: true, min_interval: 1s}}`, "")
	node := startTahuNode(t, s.mqtt.URL())
	node.do("connect 0", "born 0")
	node.do("ddata 1", "ok ddata")
	node.do("ddata 2", "ok ddata")
	node.do("ndata 5", "ok ndata")
	node.do("skip", "ok skip")
	node.do("ddata 3", "ok ddata") // seq gap: dead-lettered, rebirth requested
	node.expect("rebirth")
	node.do("ddata 4", "ok ddata")
	node.do("ddeath", "ok ddeath")
	s.waitFor("pump-7 offline", 20*time.Second, func() bool { return deviceState(s.app, "gw1/pump-7") == "offline" })
	node.do("stop", "ok stop")
	s.waitFor("gw1 offline", 20*time.Second, func() bool { return deviceState(s.app, "gw1") == "offline" })
	node.do("connect 1", "born 1")
	node.do("ddata 6", "ok ddata")
	s.waitFor("pump-7 online", 20*time.Second, func() bool { return deviceState(s.app, "gw1/pump-7") == "online" })

	c := s.consume(60*time.Second, []string{"readings", "deadletter", "events"}, func(c *consumed) bool {
		return len(c.unique(t, "readings")) >= 11 && len(c.recs["deadletter"]) >= 1 && len(presenceEvents(t, c)) >= 6
	})
	checkTahuReadings(t, c)
	dl := c.recs["deadletter"][0]
	var d struct{ Device, Reason string }
	if err := json.Unmarshal(dl.Value, &d); err != nil || d.Device != "gw1/pump-7" || d.Reason != "seq_gap" {
		t.Errorf("dead letter: %s", dl.Value)
	}
	want := []string{"device.online gw1 NBIRTH 0", "device.online gw1/pump-7 DBIRTH 0", "device.offline gw1/pump-7 DDEATH 0",
		"device.offline gw1 NDEATH 0", "device.online gw1 NBIRTH 1", "device.online gw1/pump-7 DBIRTH 1"}
	if got := presenceEvents(t, c); !slices.Equal(got, want) {
		t.Errorf("presence events:\n got %q\nwant %q", got, want)
	}
	if m := metricLine(t, s.app, "edgepm_sparkplug_rebirths_requested_total"); m != "1" {
		t.Errorf("rebirth requests: %q", m)
	}
}

// checkTahuReadings: pump-7's births and alias-only data, gw1's births and
// NDATA, with booleans as 0/1 and signed ints.
func checkTahuReadings(t *testing.T, c *consumed) {
	t.Helper()
	byDevice := map[string][]map[string]float64{}
	for seq := uint64(1); seq <= uint64(len(c.unique(t, "readings"))); seq++ {
		var v struct {
			Device string             `json:"device"`
			Values map[string]float64 `json:"values"`
		}
		if err := json.Unmarshal(c.unique(t, "readings")[seq].Value, &v); err != nil {
			t.Fatal(err)
		}
		byDevice[v.Device] = append(byDevice[v.Device], v.Values)
	}
	pump, gw := byDevice["gw1/pump-7"], byDevice["gw1"]
	// births (3), ddata 1, 2, 4, 6; the gap's ddata 3 is a dead letter.
	if len(pump) != 7 || len(gw) != 4 || len(byDevice) != 2 {
		t.Fatalf("readings by device: %v", byDevice)
	}
	if got := fmt.Sprint(pump[0]); got != "map[delta:-5 running:1 speed:1480 temp:61.5]" {
		t.Errorf("DBIRTH reading: %s", got)
	}
	if got := fmt.Sprint(pump[2]); got != "map[delta:-2 running:1 temp:2]" {
		t.Errorf("alias-only DDATA reading: %s", got)
	}
	if got := fmt.Sprint(gw[1]); got != "map[uptime_s:5]" {
		t.Errorf("NDATA reading: %s (all %v)", got, gw)
	}
}

// presenceEvents lists the device.* events consumed as "type device cause
// bd_seq", in order.
func presenceEvents(t *testing.T, c *consumed) []string {
	var out []string
	for seq := uint64(1); seq <= uint64(len(c.unique(t, "events"))); seq++ {
		var e struct {
			Type   string `json:"type"`
			Detail struct {
				Device string `json:"device"`
				Cause  string `json:"cause"`
				BdSeq  uint64 `json:"bd_seq"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(c.unique(t, "events")[seq].Value, &e); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Type, "device.") {
			out = append(out, fmt.Sprintf("%s %s %s %d", e.Type, e.Detail.Device, e.Detail.Cause, e.Detail.BdSeq))
		}
	}
	return out
}
