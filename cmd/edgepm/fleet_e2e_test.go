package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgepm/edgepm/internal/testenv"
)

// fleetGateway writes the config of one gateway of a fleet test (its own
// id, MQTT client id, data dir and HTTP port; a heartbeat every second)
// and returns the config path and HTTP address.
func fleetGateway(t *testing.T, id, mqttURL string, seeds []string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := fmt.Sprintf(`gateway_id: %s
data_dir: %s
shutdown_timeout: 10s
http: {listen: "%s"}
mqtt: {broker: %s, client_id: edgepm-%s}
kafka: {brokers: [%s], create_topics: true}
fleet: {heartbeat_interval: 1s}
inference:
  onnxruntime_lib: %s
  allow_unsigned: true
`, id, filepath.Join(dir, "data"), httpAddr, mqttURL, id, strings.Join(seeds, ","), testenv.ONNXRuntimeLib(t))
	path := filepath.Join(dir, "edgepm.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, httpAddr
}

// fleetStatus runs `edgepm fleet status` and returns its output.
func fleetStatus(t *testing.T, seeds []string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if rc := run([]string{"fleet", "status", "--brokers", seeds[0], "--timeout", "20s"}, &out, &errb); rc != 0 {
		t.Fatalf("edgepm fleet status: exit %d: %s", rc, errb.String())
	}
	return out.String()
}

// gatewayLine matches a gateway's line of `edgepm fleet status`, stale or not.
func gatewayLine(id string, stale bool) *regexp.Regexp {
	mark := "-"
	if stale {
		mark = "STALE"
	}
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + ` +\S+ ago +` + mark + ` `)
}

// Three real gateways heartbeat every second; one killed with SIGKILL
// shows STALE in `edgepm fleet status` once 3 intervals passed, the others
// do not, and it is fresh again after a restart.
func TestFleetStaleAfterKill9(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	kafka := testenv.StartKafka(t)
	ids := []string{"fleet-gw-1", "fleet-gw-2", "fleet-gw-3"}
	procs := map[string]*proc{}
	cfgs := map[string][2]string{}
	for _, id := range ids {
		path, addr := fleetGateway(t, id, broker.URL(), kafka.Seeds())
		cfgs[id] = [2]string{path, addr}
		procs[id] = startProc(t, path, addr)
	}
	var last string
	waitFor := func(what string, want map[string]bool) {
		t.Helper()
		if !eventually(60*time.Second, func() bool {
			last = fleetStatus(t, kafka.Seeds())
			for id, stale := range want {
				if !gatewayLine(id, stale).MatchString(last) {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("%s: last fleet status:\n%s", what, last)
		}
	}
	waitFor("all three reporting", map[string]bool{ids[0]: false, ids[1]: false, ids[2]: false})

	procs[ids[1]].kill9()
	waitFor("the killed gateway stale", map[string]bool{ids[1]: true})
	m := regexp.MustCompile(`(?m)^` + ids[1] + ` +(\S+) ago`).FindStringSubmatch(last)
	// The age is shown rounded to 100 ms: stale just past 3 s reads "3s".
	if age, err := time.ParseDuration(m[1]); err != nil || age < 3*time.Second {
		t.Errorf("%s stale at age %q (%v): before 3 intervals of 1s", ids[1], m[1], err)
	}
	for _, id := range []string{ids[0], ids[2]} {
		if !gatewayLine(id, false).MatchString(last) {
			t.Errorf("%s is not fresh while %s is stale:\n%s", id, ids[1], last)
		}
	}
	t.Logf("after SIGKILL of %s:\n%s", ids[1], last)

	procs[ids[1]] = startProc(t, cfgs[ids[1]][0], cfgs[ids[1]][1])
	waitFor("the restarted gateway fresh", map[string]bool{ids[0]: false, ids[1]: false, ids[2]: false})
	for _, p := range procs {
		if err := p.term(15 * time.Second); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
}
