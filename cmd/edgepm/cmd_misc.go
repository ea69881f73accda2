package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgepm/edgepm/edge"
)

func cmdVersion(stdout io.Writer) int {
	fmt.Fprintf(stdout, "edgepm %s (%s, %s/%s)\n", edge.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: edgepm config check [--config FILE]")
		return 2
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/edgepm/edgepm.yaml", "config file")
	quiet := fs.Bool("q", false, "print nothing on success")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := edge.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "edgepm: %v\n", err)
		return 1
	}
	if *quiet {
		return 0
	}
	redact(&cfg)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "edgepm: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s: valid; effective config with defaults (secrets redacted)\n%s", *cfgPath, out)
	return 0
}

func redact(c *edge.Config) {
	if c.MQTT.Password != "" {
		c.MQTT.Password = "<redacted>"
	}
	if c.Kafka.SASL.Password != "" {
		c.Kafka.SASL.Password = "<redacted>"
	}
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9510", "the appliance's http.listen address")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + *addr + "/api/status")
	if err != nil {
		fmt.Fprintf(stderr, "edgepm: is the appliance running? %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintf(stderr, "edgepm: read status: %v\n", err)
		return 1
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return 0
	}
	var st edge.Status
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintf(stderr, "edgepm: decode status: %v\n", err)
		return 1
	}
	printStatus(stdout, &st)
	if !st.Ready {
		return 3
	}
	return 0
}

func printStatus(w io.Writer, st *edge.Status) {
	ready := "READY"
	if !st.Ready {
		ready = "NOT READY"
	}
	fmt.Fprintf(w, "gateway %s  %s  version %s  up %s\n", st.Gateway, ready, st.Version,
		(time.Duration(st.UptimeSeconds) * time.Second).String())
	fmt.Fprintf(w, "mqtt    connected=%v broker=%s unacked=%d\n", st.MQTT.Connected, st.MQTT.Broker, st.MQTT.Unacked)
	in := st.Ingest
	fmt.Fprintf(w, "ingest  seq gaps=%d missing=%d resets=%d duplicates=%d", in.SeqGaps, in.SeqMissing, in.SeqResets, in.SeqDuplicates)
	if in.BrokerDropped != nil {
		fmt.Fprintf(w, " broker_dropped=%d", *in.BrokerDropped)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "uplink  online=%v\n", st.Uplink.Online)
	fmt.Fprintf(w, "buffer  %d records, %d bytes\n", st.Buffer.Records, st.Buffer.Bytes)
	fmt.Fprintf(w, "model   %s %s loaded=%v\n", st.Model.Name, st.Model.Version, st.Model.Loaded)
	fmt.Fprintf(w, "rates   %.0f readings/s, %.0f predictions/s; %d active alerts\n",
		st.Rates.ReadingsPerSec, st.Rates.PredictionsPerSec, st.ActiveAlerts)
	if len(st.Conditions) > 0 {
		fmt.Fprintf(w, "conditions:\n  %s\n", strings.Join(st.Conditions, "\n  "))
	}
	if len(st.Warnings) > 0 {
		fmt.Fprintf(w, "warnings:\n  %s\n", strings.Join(st.Warnings, "\n  "))
	}
}
