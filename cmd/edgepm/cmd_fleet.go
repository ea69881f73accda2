package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgepm/edgepm/fleet"
)

const fleetUsage = `usage:
  edgepm fleet status [kafka flags] [--timeout 2m] [--json]
  edgepm fleet rollouts watch|list ...   staged rollouts (docs/operations.md, "Staged rollout")
  edgepm fleet serve [kafka flags] [--listen 127.0.0.1:9520] [--tls-cert FILE --tls-key FILE] [--token-file FILE]
kafka flags: --config /etc/edgepm/edgepm.yaml (its kafka: section) and/or --brokers host:port,...
A --listen address beyond loopback needs --tls-cert, --tls-key and --token-file.
`

func cmdFleet(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, fleetUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "status":
		return cmdFleetStatus(ctx, args[1:], stdout, stderr)
	case "serve":
		return cmdFleetServe(ctx, args[1:], stdout, stderr)
	case "rollouts":
		return cmdFleetRollouts(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, fleetUsage)
		return 0
	}
	fmt.Fprintf(stderr, "edgepm fleet: unknown command %q\n%s", args[0], fleetUsage)
	return 2
}

// cmdFleetStatus reads the gateways and models topics to their end and
// prints the fleet once.
func cmdFleetStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleet status", flag.ContinueOnError)
	kf := addKafkaFlags(fs)
	asJSON := fs.Bool("json", false, "print the /api/fleet document (docs/formats/fleet-api.md)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg, err := kf.kafka()
	if err != nil {
		return failModel(stderr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *kf.timeout)
	defer cancel()
	view := fleet.NewView(fleet.Options{})
	if err := fleet.NewReader(cfg, view, nil).CatchUp(ctx); err != nil {
		return failModel(stderr, err)
	}
	f := view.Snapshot()
	if *asJSON {
		return printModelJSON(stdout, stderr, f)
	}
	if err := fleet.WriteTable(stdout, f); err != nil {
		return failModel(stderr, err)
	}
	return 0
}

// cmdFleetServe keeps the view live and serves the console until SIGINT
// or SIGTERM.
func cmdFleetServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleet serve", flag.ContinueOnError)
	kf := kafkaFlags{
		config:  fs.String("config", "", "appliance config file whose kafka: section to use (TLS, SASL, prefix)"),
		brokers: fs.String("brokers", "", "comma-separated seed brokers (overrides the config)"),
		timeout: new(time.Duration),
	}
	var sc fleet.ServerConfig
	fs.StringVar(&sc.Listen, "listen", fleet.DefaultListen, "address to serve the console on (beyond loopback: TLS and a token are required)")
	fs.StringVar(&sc.TLSCert, "tls-cert", "", "TLS certificate (PEM)")
	fs.StringVar(&sc.TLSKey, "tls-key", "", "TLS private key (PEM)")
	fs.StringVar(&sc.TokenFile, "token-file", "", "file holding the access token (at least 16 characters)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg, err := kf.kafka()
	if err != nil {
		return failModel(stderr, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	view := fleet.NewView(fleet.Options{})
	srv, err := fleet.NewServer(sc, view, log)
	if err != nil {
		return failModel(stderr, err)
	}
	scheme := "http"
	if srv.TLS() {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "fleet console: %s://%s/ (read-only)\n", scheme, srv.Addr())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readErr := make(chan error, 1)
	go func() { defer cancel(); readErr <- fleet.NewReader(cfg, view, log).Run(ctx) }()
	err = errors.Join(srv.Serve(ctx), <-readErr)
	if err != nil {
		return failModel(stderr, err)
	}
	return 0
}
