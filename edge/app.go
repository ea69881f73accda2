package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/inference"
)

// App is the appliance: MQTT ingest -> buffer and inference -> bridge. New
// builds it; Run runs it until its context ends and then shuts down in order.
// An App runs once.
type App struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	m       *metrics
	dec     atomic.Pointer[Decoder]
	notify  *Notifier
	started time.Time

	queue    *buffer.Queue
	engine   *inference.Engine
	producer *bridge.Producer
	watcher  *bridge.ModelWatcher
	ingest   *Ingest
	http     *httpServer

	out     chan output // predictions and alerts on their way to the buffer
	devices *deviceTable
	rates   *rateMeter

	ready      atomic.Bool
	lastCommit atomic.Int64 // unix ns of the last ingest loop turn (watchdog)
	lastOutput atomic.Int64 // unix ns of the last output loop turn (watchdog)
	closeOnce  sync.Once
}

type output struct {
	preds  []inference.Prediction
	alerts []inference.AlertEvent
}

// New builds the appliance from a validated config: it opens the buffer,
// loads ONNX Runtime and the model (warm), and prepares MQTT, Kafka and
// HTTP without connecting yet. A failure closes what was opened.
func New(cfg Config, log *slog.Logger) (a *App, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a = &App{cfg: cfg, log: log, reg: prometheus.NewRegistry(), notify: NewNotifier(), started: time.Now(),
		out: make(chan output, 256), devices: newDeviceTable(10000)}
	a.dec.Store(NewDecoder(cfg.Validation, nil))
	defer func() {
		if err != nil {
			_ = a.closeParts()
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	bopts := cfg.Buffer.options()
	bopts.Logger, bopts.Registerer, bopts.EventKey = log.With("component", "buffer"), a.reg, []byte(cfg.GatewayID)
	if a.queue, err = buffer.Open(filepath.Join(cfg.DataDir, "buffer.db"), bopts); err != nil {
		return nil, fmt.Errorf("open buffer: %w", err)
	}
	if a.engine, err = newEngine(cfg, log.With("component", "inference"), a.reg); err != nil {
		return nil, err
	}
	if a.watcher, err = a.newWatcher(); err != nil {
		return nil, err
	}
	if a.producer, err = bridge.NewProducer(a.queue, cfg.Kafka, log, a.reg); err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	if a.ingest, err = NewIngest(cfg.MQTT, log.With("component", "mqtt"), a.mqttState); err != nil {
		return nil, err
	}
	a.m = newMetrics(a.reg, func() float64 { return float64(len(a.ingest.msgs)) })
	a.rates = newRateMeter()
	if a.http, err = newHTTPServer(cfg.HTTP, a.reg, a, log.With("component", "http")); err != nil {
		return nil, err
	}
	return a, nil
}

// HTTPAddr is the address of the health/metrics/status server.
func (a *App) HTTPAddr() string { return a.http.Addr() }

// Run starts every component, reports READY to systemd once all are up and
// the model is warm, and runs until ctx ends. Then it shuts down in this
// order, bounded by shutdown_timeout:
//
//  1. stop MQTT ingest from taking new messages (unacknowledged ones stay
//     with the broker);
//  2. drain the pipeline: commit and acknowledge the messages already
//     taken, let inference finish its batch, commit its predictions and
//     alerts, then disconnect MQTT;
//  3. stop the Kafka bridge (in-flight records get shutdown_timeout to be
//     acknowledged; the rest stays buffered);
//  4. close the buffer (fsync) and the Kafka client.
func (a *App) Run(ctx context.Context) error {
	go a.http.serve()
	pctx, stopProducer := context.WithCancel(context.Background())
	prodDone := goDone(func() {
		if err := a.producer.Run(pctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("kafka bridge stopped", "err", err)
		}
	})
	ectx, stopEngine := context.WithCancel(context.Background())
	engDone := goDone(func() {
		if err := a.engine.Run(ectx, a.emit); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("inference stopped", "err", err)
		}
	})
	wctx, stopWatcher := context.WithCancel(context.Background())
	watchDone := goDone(func() {
		if err := a.watcher.Run(wctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("model watcher stopped", "err", err)
		}
	})
	outDone := goDone(a.outputLoop)
	jobs := make(chan commitJob, 2)
	decDone := goDone(func() { a.ingestLoop(jobs) })
	ingDone := goDone(func() { a.commitLoop(jobs) })
	a.ingest.Start()
	a.event("gateway_started", map[string]any{"version": Version, "model": a.modelString()})

	a.ready.Store(true)
	_ = a.notify.Notify("READY=1\nSTATUS=serving")
	a.log.Info("edgepm running", "gateway", a.cfg.GatewayID, "http", a.HTTPAddr(), "model", a.modelString())
	go a.rates.run(ctx, a)
	a.watchdog(ctx)

	// Ordered shutdown.
	a.ready.Store(false)
	_ = a.notify.Notify("STOPPING=1\nSTATUS=draining")
	a.log.Info("shutting down: stopping ingest")
	deadline := time.Now().Add(a.cfg.ShutdownTimeout)
	go a.ingest.StopReceiving()
	waitUntil(decDone, deadline)
	waitUntil(ingDone, deadline)
	a.ingest.Disconnect(time.Second)
	stopWatcher()
	waitUntil(watchDone, deadline)
	stopEngine()
	waitUntil(engDone, deadline)
	close(a.out)
	waitUntil(outDone, deadline)
	a.event("gateway_stopped", nil)
	a.log.Info("shutting down: draining kafka bridge")
	stopProducer()
	waitUntil(prodDone, deadline.Add(a.cfg.Kafka.ShutdownTimeout))
	hctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = a.http.shutdown(hctx)
	cancel()
	err := a.closeParts()
	a.log.Info("stopped", "err", err)
	return err
}

// closeParts closes what New opened, in order: inference, Kafka client,
// buffer (last: everything above may still write to it).
func (a *App) closeParts() error {
	var errs []error
	a.closeOnce.Do(func() {
		if a.watcher != nil {
			errs = append(errs, a.watcher.Close())
		}
		if a.engine != nil {
			errs = append(errs, a.engine.Close())
		}
		if a.producer != nil {
			errs = append(errs, a.producer.Close())
		}
		if a.queue != nil {
			errs = append(errs, a.queue.Close())
		}
	})
	return errors.Join(errs...)
}

func goDone(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	return done
}

func waitUntil(done <-chan struct{}, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// newWatcher builds the consumer of the models topic and restores the
// model accepted last (it then serves instead of the start-up model).
func (a *App) newWatcher() (*bridge.ModelWatcher, error) {
	keys, err := a.cfg.Inference.publicKeys()
	if err != nil {
		return nil, err
	}
	w, err := bridge.NewModelWatcher(bridge.ModelWatcherConfig{
		Kafka: a.cfg.Kafka, Dir: ModelStoreDir(a.cfg.DataDir), PublicKeys: keys,
		AllowUnsigned: a.cfg.Inference.AllowUnsigned, Activate: a.engine.Load, Events: a.queue,
	}, a.log.With("component", "models"), a.reg)
	if err != nil {
		return nil, fmt.Errorf("model watcher: %w", err)
	}
	if err := w.Restore(); err != nil {
		a.log.Error("stored model not restored; serving the start-up model", "err", err)
	}
	return w, nil
}

func (a *App) mqttState(up bool) {
	if a.m != nil {
		if up {
			a.m.mqttUp.Set(1)
		} else {
			a.m.mqttUp.Set(0)
		}
	}
	typ := "mqtt_connected"
	if !up {
		typ = "mqtt_disconnected"
	}
	go a.event(typ, map[string]any{"broker": a.cfg.MQTT.Broker})
}

func (a *App) modelString() string {
	if n, v, ok := a.engine.Active(); ok {
		return n + ":" + v
	}
	return ""
}
