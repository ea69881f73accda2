package main

import (
	"flag"
	"fmt"
	"io"
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
	const configUsage = "usage: edgepm config check [--config FILE] [-q]"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, configUsage)
		return 0
	}
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, configUsage)
		return 2
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/edgepm/edgepm.yaml", "config file")
	quiet := fs.Bool("q", false, "print nothing on success")
	if code, ok := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
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
