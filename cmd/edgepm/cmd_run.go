package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/edgepm/edgepm/edge"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (YAML); empty = defaults and EDGEPM_* environment")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg, err := edge.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "edgepm: %v\n", err)
		return 1
	}
	level := new(slog.LevelVar)
	lv, _ := edge.ParseLogLevel(cfg.LogLevel)
	level.Set(lv)
	log := newLogger(stderr, cfg.LogFormat, level)
	setGCPercent(log)

	// Signals are taken before the (slow) start-up: a SIGHUP while the model
	// warms up must not kill the process, a SIGTERM must stop it cleanly.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	app, err := edge.New(cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	reloadDone := make(chan struct{})
	go func() { defer close(reloadDone); reloadOnHUP(ctx, hup, *cfgPath, app, level, log) }()
	defer func() { <-reloadDone }()
	if err := app.Run(ctx); err != nil {
		log.Error("stopped with errors", "err", err)
		return 1
	}
	return 0
}

// reloadOnHUP re-reads the config on SIGHUP and applies what can change
// live; an invalid file keeps the running config.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, path string, app *edge.App, level *slog.LevelVar, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := edge.Load(path)
		if err != nil {
			log.Error("reload rejected; keeping the running config", "err", err)
			continue
		}
		lv, _ := edge.ParseLogLevel(cfg.LogLevel)
		level.Set(lv)
		app.Reload(cfg)
		log.Info("config reloaded", "log_level", cfg.LogLevel)
	}
}

func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// defaultGCPercent is the garbage collector's target heap growth when GOGC
// is not set. The appliance's live heap is small (about 20 MB at 100,000
// readings/s) and most of what it allocates is short-lived record bytes;
// letting the heap grow 150% instead of Go's 100% between collections
// costs about 15 MB of RSS and buys 2-4% of ingest throughput on a 2-core
// gateway (docs/benchmarks.md, bench-e2e). GOGC in the environment (systemd
// Environment=GOGC=...) overrides it, and GOMEMLIMIT still applies.
const defaultGCPercent = 150

func setGCPercent(log *slog.Logger) {
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(defaultGCPercent)
	log.Debug("gc percent", "gogc", defaultGCPercent)
}
