package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command and subcommand answers --help and -h with its usage on
// stdout and exit code 0, and does nothing else (keygen writes no key).
func TestEveryHelpExitsZero(t *testing.T) {
	t.Chdir(t.TempDir())
	commands := [][]string{
		{}, {"run"}, {"status"}, {"config"}, {"config", "check"}, {"buffer"}, {"buffer", "inspect"},
		{"buffer", "export"}, {"keygen"}, {"model"}, {"model", "push"}, {"model", "list"},
		{"model", "rollback"}, {"model", "build"}, {"model", "validate"}, {"model", "sign"},
		{"model", "promote"}, {"model", "abort"}, {"model", "shadow"},
		{"features"}, {"features", "export"}, {"decommission"}, {"version"},
	}
	for _, cmd := range commands {
		for _, h := range []string{"--help", "-h"} {
			args := append(append([]string(nil), cmd...), h)
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code != 0 || out.Len() == 0 {
				t.Errorf("edgepm %s: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout",
					strings.Join(args, " "), code, out.String(), errb.String())
			}
		}
	}
	if _, err := os.Stat("edgepm-model.key"); err == nil {
		t.Error("keygen --help wrote a key")
	}
	var out, errb bytes.Buffer
	if code := run([]string{"status", "--no-such-flag"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "no-such-flag") {
		t.Errorf("a bad flag: exit %d, stderr %q; want 2 naming the flag", code, errb.String())
	}
}

// edgepm status finds the appliance as run does: --config's http.listen
// (EDGEPM_HTTP_LISTEN overriding it), else EDGEPM_HTTP_LISTEN; and when
// nothing answers, its error names the address it tried and where that came
// from.
func TestStatusFindsTheAppliance(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"gateway":"gw-test","ready":true}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	dir := t.TempDir()
	cfg := filepath.Join(dir, "edgepm.yaml")
	if err := os.WriteFile(cfg, []byte("gateway_id: gw-test\nhttp: {listen: \":"+port+"\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"status", "--config", cfg}, &out, &errb); code != 0 || !strings.Contains(out.String(), "gateway gw-test  READY") {
		t.Fatalf("status --config: exit %d, %q %q", code, out.String(), errb.String())
	}

	free := closedPort(t)
	t.Setenv("EDGEPM_HTTP_LISTEN", "127.0.0.1:"+free)
	out.Reset()
	errb.Reset()
	code := run([]string{"status"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "http://127.0.0.1:"+free+"/api/status (address from EDGEPM_HTTP_LISTEN)") {
		t.Fatalf("status with EDGEPM_HTTP_LISTEN of a closed port: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	code = run([]string{"status", "--config", cfg}, &out, &errb) // the environment overrides the file, as for run
	if code != 1 || !strings.Contains(errb.String(), "127.0.0.1:"+free) || !strings.Contains(errb.String(), "http.listen of "+cfg) {
		t.Fatalf("status --config with EDGEPM_HTTP_LISTEN set: exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"status", "--addr", ln.Addr().String()}, &out, &errb); code != 0 {
		t.Fatalf("status --addr: exit %d", code)
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		":9510": "127.0.0.1:9510", "0.0.0.0:9510": "127.0.0.1:9510", "[::]:9510": "[::1]:9510",
		"10.0.0.5:9510": "10.0.0.5:9510", "localhost:19510": "localhost:19510",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}
