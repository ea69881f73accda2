package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/edgepm/edgepm/edge"
)

// defaultConfigPath is where the package installs the config.
const defaultConfigPath = "/etc/edgepm/edgepm.yaml"

// cmdStatus prints a running appliance's state. It finds the appliance the
// way run does: --addr, else http.listen of --config (EDGEPM_HTTP_LISTEN
// overriding it, as for run), else EDGEPM_HTTP_LISTEN, else the installed
// config if readable, else the default 127.0.0.1:9510.
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("status", flag.ContinueOnError)
	addr := flags.String("addr", "", "the appliance's http.listen address (default: from --config or EDGEPM_HTTP_LISTEN, else 127.0.0.1:9510)")
	cfgPath := flags.String("config", "", "the appliance's config file, to read http.listen from (default "+defaultConfigPath+" if readable)")
	asJSON := flags.Bool("json", false, "print the raw JSON")
	if code, ok := parseFlags(flags, args, stdout, stderr); !ok {
		return code
	}
	target, from, err := statusAddr(*addr, *cfgPath, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "edgepm: status: %v\n", err)
		return 1
	}
	url := "http://" + target + "/api/status"
	body, err := getStatus(url)
	if err != nil {
		fmt.Fprintf(stderr, "edgepm: no appliance answers at %s (address from %s): %v; is it running? set --addr or --config\n", url, from, err)
		return 1
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return 0
	}
	var st edge.Status
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintf(stderr, "edgepm: decode status from %s: %v\n", url, err)
		return 1
	}
	printStatus(stdout, &st)
	if !st.Ready {
		return 3
	}
	return 0
}

func getStatus(url string) ([]byte, error) {
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// statusAddr returns the address to reach the appliance at and where it
// came from (for the error when nothing answers there).
func statusAddr(addr, cfgPath string, lookup func(string) (string, bool)) (string, string, error) {
	if addr != "" {
		return dialable(addr), "--addr", nil
	}
	if cfgPath != "" {
		cfg, err := edge.Load(cfgPath)
		if err != nil {
			return "", "", err
		}
		return dialable(cfg.HTTP.Listen), "http.listen of " + cfgPath, nil
	}
	if v, ok := lookup("EDGEPM_HTTP_LISTEN"); ok && v != "" {
		return dialable(v), "EDGEPM_HTTP_LISTEN", nil
	}
	cfg, err := edge.Load(defaultConfigPath)
	switch {
	case err == nil:
		return dialable(cfg.HTTP.Listen), "http.listen of " + defaultConfigPath, nil
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
		return "127.0.0.1:9510", "the default (no readable " + defaultConfigPath + ")", nil
	}
	return "", "", err
}

// dialable turns a listen address into one to connect to: an empty or
// wildcard host is this machine.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
