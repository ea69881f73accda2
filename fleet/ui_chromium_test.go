package fleet_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/edgepm/edgepm/fleet"
	"github.com/edgepm/edgepm/internal/testenv"
)

// TestFleetConsoleInChromium loads the console of a small fleet (a fresh
// gateway, a stale one, a canary rollout, an alert and an event) in
// headless Chromium, checks the DOM the page's script renders and saves a
// screenshot to .local/test-output/fleet-console.png. It runs under
// `make test-ui` (EDGEPM_TEST_UI=1), which installs Debian's chromium.
func TestFleetConsoleInChromium(t *testing.T) {
	if os.Getenv("EDGEPM_TEST_UI") == "" {
		t.Skip("the console test runs under make test-ui (EDGEPM_TEST_UI=1)")
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium (scripts/need.sh chromium chromium)")
	}
	s := serve(t, fleet.ServerConfig{Listen: "127.0.0.1:0"}, smallView(t))
	url := "http://" + s.Addr() + "/"
	checkConsoleDOM(t, headless(t, bin, "--dump-dom", url))

	out := filepath.Join(testenv.RepoRoot(), ".local", "test-output")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(out, "fleet-console.png")
	_ = os.Remove(png)
	headless(t, bin, "--screenshot="+png, "--window-size=1400,900", "--hide-scrollbars", url)
	if fi, err := os.Stat(png); err != nil || fi.Size() < 10_000 {
		t.Fatalf("screenshot %s not written (%v, %v)", png, fi, err)
	}
	t.Logf("screenshot: %s", png)
}

// headless runs Chromium with a fresh profile; virtual time lets the
// page's first fetch and render finish before it dumps or shoots.
func headless(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

func checkConsoleDOM(t *testing.T, dom []byte) {
	t.Helper()
	if m := regexp.MustCompile(`data-js-error="([^"]*)"`).FindSubmatch(dom); m != nil {
		t.Fatalf("the page's script failed: %s", m[1])
	}
	if !regexp.MustCompile(`<body[^>]* data-rendered="[1-9]`).Match(dom) {
		t.Fatalf("the page never rendered:\n%s", dom)
	}
	rows := map[string]string{
		`<tr data-gateway="gw-a" class="">[\s\S]*?pump:2[\s\S]*?active[\s\S]*?</tr>`:                  "gw-a fresh on pump:2, active",
		`<tr data-gateway="line3-b" class="stale">[\s\S]*?STALE[\s\S]*?</tr>`:                         "line3-b marked STALE",
		`<tr data-rollout="pump">[\s\S]*?canary[\s\S]*?<progress[^>]*>[\s\S]*?1/2[\s\S]*?in_progress`: "the canary rollout at 1/2",
		`<tr class="alert" data-type="alert.raised">[\s\S]*?gw-a[\s\S]*?m1`:                           "the raised alert",
		`<tr class="" data-type="model.activated">`:                                                   "the model.activated event",
		`id="models" data-rows="2"`:             "two version rows in the model summary",
		`<div class="tile"><b>stale</b>1</div>`: "the stale count",
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
