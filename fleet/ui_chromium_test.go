package fleet_test

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/edgepm/edgepm/fleet"
	"github.com/edgepm/edgepm/internal/testenv"
)

// TestFleetConsoleInChromium loads the console of a small fleet (a fresh
// gateway, a stale one, one stopped cleanly, a canary rollout, an alert and an event) in
// headless Chromium, checks the DOM the page's script renders and saves a
// screenshot to .local/test-output/fleet-console.png. It runs under
// `make test-ui` (EDGEPM_TEST_UI=1), which installs Debian's chromium.
func TestFleetConsoleInChromium(t *testing.T) {
	if os.Getenv("EDGEPM_TEST_UI") == "" {
		t.Skip("the console test runs under make test-ui (EDGEPM_TEST_UI=1)")
	}
	bin := testenv.Chromium(t)
	v := smallView(t)
	if err := v.ApplyHeartbeat([]byte("gw-d"), mustJSON(t, stoppedHeartbeat("gw-d", t0.Add(-time.Hour))), t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	s := serve(t, fleet.ServerConfig{Listen: "127.0.0.1:0"}, v)
	url := "http://" + s.Addr() + "/"
	checkConsoleDOM(t, testenv.Headless(t, bin, "--dump-dom", url))
	testenv.Screenshot(t, bin, url, "fleet-console.png", "1400,900")
}

func checkConsoleDOM(t *testing.T, dom []byte) {
	t.Helper()
	testenv.CheckRendered(t, dom)
	rows := map[string]string{
		`<tr data-gateway="gw-a" class="">[\s\S]*?pump:2[\s\S]*?active[\s\S]*?</tr>`:                  "gw-a fresh on pump:2, active",
		`<tr data-gateway="line3-b" class="stale">[\s\S]*?STALE[\s\S]*?</tr>`:                         "line3-b marked STALE",
		`<tr data-rollout="pump">[\s\S]*?canary[\s\S]*?<progress[^>]*>[\s\S]*?1/2[\s\S]*?in_progress`: "the canary rollout at 1/2",
		`<tr class="alert" data-type="alert.raised">[\s\S]*?gw-a[\s\S]*?m1`:                           "the raised alert",
		`<tr class="" data-type="model.activated">`:                                                   "the model.activated event",
		`<tr class="" data-type="rollout.started">[\s\S]*?edgepm-fleet[\s\S]*?pump:2[\s\S]*?by=alice`: "the rollout's start, by the fleet tool",
		`id="models" data-rows="2"`:                                        "two version rows in the model summary",
		`<div class="tile"><b>stale</b>1</div>`:                            "the stale count",
		`<tr data-gateway="gw-d" class="stopped">[\s\S]*?ago stopped</td>`: "gw-d, stopped an hour ago, marked stopped, not stale",
		`<div class="tile"><b>stopped</b>1</div>`:                          "the stopped count",
	}
	for re, what := range rows {
		if !regexp.MustCompile(re).Match(dom) {
			t.Errorf("the page lacks %s", what)
		}
	}
	if regexp.MustCompile(`data-gateway="gw-c"`).Match(dom) {
		t.Error("the decommissioned gw-c is shown")
	}
}
