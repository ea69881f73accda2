package edge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgepm/edgepm/bridge"
	"github.com/edgepm/edgepm/buffer"
	"github.com/edgepm/edgepm/edge/ingest"
	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/internal/devices"
	"github.com/edgepm/edgepm/internal/wire"
)

// App is the appliance: MQTT ingest (package ingest) -> buffer and
// inference -> bridge. New
// builds it; Run runs it until its context ends and then shuts down in order.
// An App runs once.
type App struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	m       *metrics
	notify  *notifier
	started time.Time
	// hbLast are the counters at the last heartbeat: heartbeatLoop's
	// goroutine, then the shutdown's stopped heartbeat after it ended.
	hbLast heartbeatCounters

	queue    *buffer.Queue
	policy   modelpkg.Policy // signature policy (inference.public_keys, allow_unsigned), built once in open
	card     modelCard       // what /api/status says of the served model beyond the engine's view
	engine   *inference.Engine
	producer *bridge.Producer
	watcher  *bridge.ModelWatcher
	mqtt     *ingest.Client
	pipeline *ingest.Pipeline
	http     *httpServer

	outs     *outputs        // predictions and alerts on their way to the buffer
	hardStop context.Context // cancelled at the shutdown deadline: disk waits give up
	stopHard context.CancelFunc
	devices  *deviceTable
	rates    *rateMeter
	hist     *history // the last hour for /api/history

	brokerDrops brokerDrops // the broker's $SYS dropped-messages count

	ready      atomic.Bool
	lastRetry  atomic.Int64 // unix ns of the last buffer append retry (watchdog: waiting for the disk is alive)
	lastOutput atomic.Int64 // unix ns of the last output loop turn (watchdog)
	closeOnce  sync.Once
}

// New builds the appliance from a validated config: it opens the buffer,
// loads ONNX Runtime and the model (warm), and prepares MQTT, Kafka and
// HTTP without connecting yet. A failure closes what was opened.
func New(cfg Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, log: log, reg: prometheus.NewRegistry(), notify: newNotifier(), started: time.Now(),
		outs: newOutputs(), hist: newHistory()}
	a.hardStop, a.stopHard = context.WithCancel(context.Background())
	if err := a.open(); err != nil {
		_ = a.closeParts()
		return nil, err
	}
	return a, nil
}

// open creates the components in dependency order; closeParts undoes it.
func (a *App) open() (err error) {
	cfg, log := a.cfg, a.log
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	bopts := withEventReports(cfg.Buffer.options(), cfg.GatewayID)
	bopts.Logger, bopts.Registerer = log, a.reg // the buffer names its component
	if a.queue, err = buffer.Open(filepath.Join(cfg.DataDir, "buffer.db"), bopts); err != nil {
		return fmt.Errorf("open buffer: %w", err)
	}
	if a.policy, err = cfg.Inference.policy(); err != nil {
		return err
	}
	if a.engine, err = newEngine(cfg, a.policy, &a.card, log.With("component", "inference"), a.reg, a.driftEvent, a.emitShadow); err != nil {
		return err
	}
	a.reg.MustRegister(newBuildInfo(a.engine.Active), prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgepm_ready",
		Help: "1 when /readyz reports ready (connected, a model loaded, every stream accepted, ingest committing), else 0."},
		func() float64 {
			if ready, _ := a.readiness(); ready {
				return 1
			}
			return 0
		}))
	a.devices = newDeviceTable(cfg.Inference.MaxDevices, cfg.Inference.DeviceIdleTTL, a.forgetDevice)
	a.reg.MustRegister(a.devices.collectors()...)
	if a.watcher, err = a.newWatcher(); err != nil {
		return err
	}
	if a.producer, err = bridge.NewProducer(a.queue, cfg.Kafka, log, a.reg); err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	if a.mqtt, err = ingest.NewClient(cfg.MQTT, log.With("component", "mqtt"), a.mqttState); err != nil {
		return err
	}
	a.reg.MustRegister(brokerDropsCollector{a.mqtt})
	if a.pipeline, err = ingest.NewPipeline(cfg.MQTT.Subscriptions, cfg.Validation, a.prepare, log.With("component", "ingest")); err != nil {
		return err
	}
	a.pipeline.SetPublish(a.mqtt.Publish) // Sparkplug rebirth requests
	a.reg.MustRegister(a.rebirthCollector())
	a.m = newMetrics(a.reg, func() float64 { return float64(a.mqtt.Queued()) }, func() float64 { return float64(a.pipeline.StuckSensors()) })
	a.rates = newRateMeter()
	if a.http, err = newHTTPServer(cfg.HTTP, a.reg, a, log.With("component", "http")); err != nil {
		return err
	}
	return nil
}

// forgetDevice drops an evicted device's state from inference and the
// stuck-sensor check (the device table's OnEvict; it runs in prepare, on
// the pipeline's decode goroutine, as ForgetDevice requires).
func (a *App) forgetDevice(device string, why devices.Reason) {
	a.engine.Forget(device, string(why))
	a.pipeline.ForgetDevice(device)
}

// HTTPAddr is the address of the health/metrics/status server.
func (a *App) HTTPAddr() string { return a.http.Addr() }

// Run starts every component, reports READY to systemd once all are up and
// the model is warm, and runs until ctx ends. Then it shuts down in this
// order, bounded by shutdown_timeout (plus kafka.shutdown_timeout for the
// bridge):
//
//  1. stop MQTT ingest from taking new messages (unacknowledged ones stay
//     with the broker);
//  2. drain the pipeline: commit and acknowledge the messages already
//     taken, disconnect MQTT, stop the model watcher, let inference finish
//     its batch, commit the last predictions and alerts;
//  3. stop the Kafka bridge (in-flight records get kafka.shutdown_timeout to
//     be acknowledged; the rest stays buffered for the next start);
//  4. close inference, the Kafka client and, last, the buffer (fsync).
//
// At the hard deadline whatever is still waiting on the disk gives up:
// its MQTT messages stay unacknowledged and are redelivered next time.
func (a *App) Run(ctx context.Context) error {
	r := a.start()
	a.ready.Store(true)
	_ = a.notify.send("READY=1\nSTATUS=serving")
	a.log.Info("edgepm running", "gateway", a.cfg.GatewayID, "http", a.HTTPAddr(), "model", a.modelString())
	ratesDone := goDone(func() { a.rates.run(ctx) })
	histDone := goDone(func() { a.sampleHistory(ctx) })
	lossDone := goDone(func() { a.lossLoop(ctx) })
	hbDone := goDone(func() { a.heartbeats(ctx) })
	a.watchdog(ctx)
	<-lossDone // it writes events: done before the buffer closes
	<-hbDone   // it writes heartbeats: likewise
	err := a.shutdown(r)
	<-ratesDone
	<-histDone
	return err
}

// sampleHistory records the history's samples every historyStep until ctx
// ends (the first reading sets the rates' base).
func (a *App) sampleHistory(ctx context.Context) {
	t := time.NewTicker(historyStep)
	defer t.Stop()
	a.hist.record(time.Now(), a.gauges())
	a.hist.run(ctx, t.C, a.gauges)
}

// running holds what start started, for shutdown.
type running struct {
	stopProducer, stopWatcher, stopEngine, stopRates context.CancelFunc

	producer, watcher, engine, ingest, preds, alerts, http <-chan struct{}
}

func (a *App) start() *running {
	r := &running{}
	r.http = goDone(a.http.serve)
	r.producer, r.stopProducer = a.goRun("kafka bridge", a.producer.Run)
	r.watcher, r.stopWatcher = a.goRun("model watcher", a.watcher.Run)
	r.engine, r.stopEngine = a.goRun("inference", func(ctx context.Context) error { return a.engine.Run(ctx, a.emit) })
	r.preds = goDone(a.predictionLoop)
	r.alerts = goDone(a.alertLoop)
	r.ingest = goDone(func() { a.pipeline.Run(a.mqtt.Messages()) })
	a.mqtt.Start()
	a.event(wire.EventGatewayStarted, map[string]any{"version": Version, "model": a.modelString()})
	return r
}

// goRun runs f in a goroutine with its own context; an error other than
// cancellation is logged.
func (a *App) goRun(what string, f func(context.Context) error) (<-chan struct{}, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	return goDone(func() {
		if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error(what+" stopped", "err", err)
		}
	}), cancel
}

func (a *App) shutdown(r *running) error {
	a.ready.Store(false)
	_ = a.notify.send("STOPPING=1\nSTATUS=draining")
	a.log.Info("shutting down: stopping ingest")
	deadline := time.Now().Add(a.cfg.ShutdownTimeout)
	hard := time.AfterFunc(a.cfg.ShutdownTimeout, a.stopHard)
	defer hard.Stop()

	go a.mqtt.StopReceiving()
	waitUntil(r.ingest, deadline)
	a.mqtt.Disconnect(time.Second)
	r.stopWatcher()
	waitUntil(r.watcher, deadline)
	r.stopEngine()
	waitUntil(r.engine, deadline)
	a.engine.ClearShadow() // its batch in progress reaches the output queue before the loops stop
	close(a.outs.stop)     // emit stops waiting; the output loops commit what is queued
	waitUntil(r.preds, deadline)
	waitUntil(r.alerts, deadline)
	a.flushLoss(time.Now(), true) // losses not yet reported
	a.event(wire.EventGatewayStopped, nil)
	stopped := a.stoppedHeartbeat()

	a.log.Info("shutting down: draining kafka bridge")
	r.stopProducer()
	waitUntil(r.producer, deadline.Add(a.cfg.Kafka.ShutdownTimeout))
	a.sendStopped(stopped)
	hctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = a.http.shutdown(hctx)
	cancel()
	<-r.http
	a.stopHard() // nothing may wait on the disk any longer
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

// driftEvent turns a drift report into an inference.drift event carrying
// the most drifted features (all of them are in the metrics).
func (a *App) driftEvent(r inference.DriftReport) {
	feats := slices.Clone(r.Features)
	sortByDrift(feats)
	top := make([]map[string]any, 0, 5)
	for _, f := range feats[:min(5, len(feats))] {
		ft := map[string]any{"feature": f.Feature, "score": finite(f.Score), "mean": finite(f.Mean),
			"train_mean": finite(f.TrainMean), "std": finite(f.Std), "train_std": finite(f.TrainStd),
			"recent_score": finite(f.RecentScore), "recent_mean": finite(f.RecentMean), "recent_std": finite(f.RecentStd),
			"drifting": f.Drifting()}
		if f.HasHist {
			ft["psi"], ft["recent_psi"] = finite(f.PSI), finite(f.RecentPSI)
		}
		top = append(top, ft)
	}
	a.event(wire.EventInferenceDrift, map[string]any{"model": r.Model, "model_version": r.ModelVersion,
		"since": unixMs(r.Since), "rows": r.Rows, "recent_since": unixMs(r.RecentSince), "recent_rows": r.RecentRows, "top": top})
}

// sortByDrift orders features most drifted first (FeatureDrift.Level: the
// mean shift and the PSI since loading, each against its mark); NaN last (cmp.Compare
// orders it below every number).
func sortByDrift(fs []inference.FeatureDrift) {
	slices.SortStableFunc(fs, func(x, y inference.FeatureDrift) int { return cmp.Compare(y.Level(), x.Level()) })
}

// finite maps NaN and ±Inf (which JSON cannot carry) to nil.
func finite(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// newWatcher builds the consumer of the models topic and restores the
// model accepted last (it then serves instead of the start-up model).
func (a *App) newWatcher() (*bridge.ModelWatcher, error) {
	w, err := bridge.NewModelWatcher(bridge.ModelWatcherConfig{
		Kafka: a.cfg.Kafka, Dir: modelStoreDir(a.cfg.DataDir), Policy: a.policy,
		Activate: a.card.loader(a.engine, a.policy), Events: a.queue,
		Name: a.cfg.Inference.ModelName, MaxStagingBytes: a.cfg.Inference.MaxStagingBytes, Retire: a.retireModel,
		Shadow: a.LoadShadow, ClearShadow: a.ClearShadow, // a release's challenger, scored beside
	}, a.log, a.reg) // the watcher names its component
	if err != nil {
		return nil, fmt.Errorf("model watcher: %w", err)
	}
	if err := w.Restore(); err != nil {
		a.log.Error("stored model not restored; serving the start-up model", "err", err)
	}
	return w, nil
}

// retireModel is called when a tombstone on the models topic retires the
// served model: the start-up model (inference.model_dir or the embedded
// default) serves again.
func (a *App) retireModel(name string) {
	if err := loadStartupModel(a.card.loader(a.engine, a.policy), a.cfg, a.policy, a.log); err != nil {
		a.log.Error("model retired but the start-up model could not be loaded; the retired one keeps serving", "model", name, "err", err)
		return
	}
	a.log.Info("model retired; serving the start-up model", "retired", name, "model", a.modelString())
}

func (a *App) mqttState(up bool) {
	if a.m != nil {
		if up {
			a.m.mqttUp.Set(1)
		} else {
			a.m.mqttUp.Set(0)
		}
	}
	typ := wire.EventMQTTConnected
	if !up {
		typ = wire.EventMQTTDisconnected
	}
	a.event(typ, map[string]any{"broker": ingest.RedactURL(a.cfg.MQTT.Broker)})
}

func (a *App) modelString() string {
	if n, v, ok := a.engine.Active(); ok {
		return n + ":" + v
	}
	return ""
}
