package edge_test

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/edgepm/edgepm/internal/testenv"
)

// TestStatusPageInChromium loads the status page of a running appliance
// (Mosquitto, kfake, readings of three machines, one in alert) in headless
// Chromium, checks the rendered DOM (charts with points, a row per machine
// with its sparkline, the alert, the model card, the streams) and saves a
// screenshot to .local/test-output/status-page.png. It runs under
// `make test-ui` (EDGEPM_TEST_UI=1), which installs Debian's chromium.
func TestStatusPageInChromium(t *testing.T) {
	if os.Getenv("EDGEPM_TEST_UI") == "" {
		t.Skip("the status page test runs under make test-ui (EDGEPM_TEST_UI=1)")
	}
	bin := testenv.Chromium(t)
	s := startStack(t, uiThresholds)
	feedUntilHistory(s, 2) // two samples: a line, not a dot
	url := "http://" + s.app.HTTPAddr() + "/"

	checkDOM(t, testenv.Headless(t, bin, "--dump-dom", url))
	testenv.Screenshot(t, bin, url, "status-page.png", "1400,1900")
}

// checkDOM checks what the page's script renders; none of it is in the
// served HTML, so a script that breaks fails here.
func checkDOM(t *testing.T, dom []byte) {
	t.Helper()
	testenv.CheckRendered(t, dom)
	for _, chart := range []string{"rates", "backlog", "buffer"} {
		re := regexp.MustCompile(`id="chart-` + chart + `"[^>]*data-points="(\d+)"[^>]*>\s*<div class="uplot`)
		m := re.FindSubmatch(dom)
		if m == nil {
			t.Errorf("chart %s: no uPlot chart with data-points", chart)
		} else if n, _ := strconv.Atoi(string(m[1])); n < 2 {
			t.Errorf("chart %s has %d points, want at least 2", chart, n)
		}
	}
	if !regexp.MustCompile(`id="chart-rates"[\s\S]*?<canvas`).Match(dom) {
		t.Error("the rates chart has no canvas")
	}
	if !regexp.MustCompile(`id="uplink-strip"[^>]*data-points="[1-9]`).Match(dom) {
		t.Error("the uplink-state strip has no samples")
	}
	for i, d := range uiDevices {
		row := regexp.MustCompile(`<tr data-device="` + d + `"[^>]*>([\s\S]*?)</tr>`).FindSubmatch(dom)
		switch {
		case row == nil:
			t.Errorf("no row for machine %s", d)
		case !bytes.Contains(row[1], []byte(`<svg class="spark"`)) || !bytes.Contains(row[1], []byte(`class="raise"`)):
			t.Errorf("machine %s: no sparkline with the raise threshold: %s", d, row[1])
		case (i == len(uiDevices)-1) != bytes.Contains(row[1], []byte("ALERT")):
			t.Errorf("machine %s: alert state wrong (only %s is hot): %s", d, uiDevices[len(uiDevices)-1], row[1])
		}
	}
	for _, want := range []string{`failure probability`, `hysteresis`, `<dt>name</dt>`, `most drifted: `, ` (PSI `, `data-stream="readings"`, `data-rows="`} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	if regexp.MustCompile(`id="alerts" data-rows="0"`).Match(dom) {
		t.Error("the alert list is empty; the hot machine raised one")
	}
}
