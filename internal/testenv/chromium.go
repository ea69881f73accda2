package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// Chromium is the path of Debian's headless-capable chromium; a test that
// needs it fails (in CI) or skips (elsewhere) when it is missing. The UI
// tests run under `make test-ui` (EDGEPM_TEST_UI=1), which installs it.
func Chromium(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		Missing(t, "chromium (scripts/need.sh chromium chromium)")
	}
	return bin
}

// Headless runs headless Chromium (bin from Chromium) with a fresh profile
// and args (e.g. "--dump-dom", url) and returns its standard output.
// Virtual time lets the page's fetches and first render finish before the
// DOM is dumped or a screenshot taken.
func Headless(t testing.TB, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=8000"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// Screenshot saves a screenshot of url, size "W,H", to
// .local/test-output/NAME in the repository and returns its path.
func Screenshot(t testing.TB, bin, url, name, size string) string {
	t.Helper()
	out := filepath.Join(RepoRoot(), ".local", "test-output")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(out, name)
	_ = os.Remove(png)
	Headless(t, bin, "--screenshot="+png, "--window-size="+size, "--hide-scrollbars", url)
	if fi, err := os.Stat(png); err != nil || fi.Size() < 10_000 {
		t.Fatalf("screenshot %s not written (%v, %v)", png, fi, err)
	}
	t.Logf("screenshot: %s", png)
	return png
}

// CheckRendered fails t when a page's script reported an error
// (data-js-error) or never finished a render (data-rendered on body), the
// convention of edgepm's embedded pages.
func CheckRendered(t testing.TB, dom []byte) {
	t.Helper()
	if m := regexp.MustCompile(`data-js-error="([^"]*)"`).FindSubmatch(dom); m != nil {
		t.Fatalf("the page's script failed: %s", m[1])
	}
	if !regexp.MustCompile(`<body[^>]* data-rendered="[1-9]`).Match(dom) {
		t.Fatalf("the page never rendered (no data-rendered on body):\n%s", dom)
	}
}
