package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepm/edgepm/inference"
	"github.com/edgepm/edgepm/inference/modelpkg"
	"github.com/edgepm/edgepm/models"
)

// errNoRuntime is returned when libonnxruntime cannot be found.
var errNoRuntime = errors.New("ONNX Runtime library not found")

// onnxRuntimeCandidates lists where the ONNX Runtime library is looked for,
// in order, when inference.onnxruntime_lib (or ONNXRUNTIME_LIB) is unset.
var onnxRuntimeCandidates = []string{
	"/usr/lib/edgepm/libonnxruntime.so.1",
	".local/lib/libonnxruntime.so.1",
}

// resolveONNXRuntime returns the library path to load, or an error that says
// exactly what to do.
func resolveONNXRuntime(configured string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("%w: inference.onnxruntime_lib / ONNXRUNTIME_LIB = %s: %v", errNoRuntime, configured, err)
		}
		return configured, nil
	}
	for _, p := range onnxRuntimeCandidates {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: looked in %v; run `make onnxruntime` in the source tree (fetches onnxruntime-node@1.24.3 with npm and checks its sha256), "+
		"or set ONNXRUNTIME_LIB / inference.onnxruntime_lib to a libonnxruntime.so of ONNX Runtime 1.24", errNoRuntime, onnxRuntimeCandidates)
}

// modelStoreDir is where models accepted from Kafka are kept (one folder
// per name and version, docs/formats/model-delivery.md), so a restart while
// offline serves the last accepted model at once.
func modelStoreDir(dataDir string) string { return filepath.Join(dataDir, "models") }

// InitRuntime finds the ONNX Runtime library as `edgepm run` does
// (configured is the path from the config or $ONNXRUNTIME_LIB; "" looks in
// the default places) and loads it. It returns the path loaded. Used by operator commands that
// open models (`edgepm model build`, `validate`, `push`).
func InitRuntime(configured string) (string, error) {
	lib, err := resolveONNXRuntime(configured)
	if err != nil {
		return "", err
	}
	if err := inference.InitRuntime(lib); err != nil {
		return "", fmt.Errorf("load onnx runtime %s: %w", lib, err)
	}
	return lib, nil
}

// newEngine creates the inference engine and loads the start-up model;
// onDrift gets its drift reports and onShadow its shadow predictions.
func newEngine(cfg Config, policy modelpkg.Policy, card *modelCard, log *slog.Logger, reg prometheus.Registerer,
	onDrift func(inference.DriftReport), onShadow func(*inference.Batch)) (*inference.Engine, error) {
	lib, err := resolveONNXRuntime(cfg.Inference.ONNXRuntimeLib)
	if err != nil {
		return nil, err
	}
	if err := inference.InitRuntime(lib); err != nil {
		return nil, fmt.Errorf("load onnx runtime %s: %w", lib, err)
	}
	ecfg := inference.EngineConfig{
		MaxBatch:        cfg.Inference.MaxBatch,
		MaxDelay:        cfg.Inference.MaxDelay,
		QueueSize:       cfg.Inference.QueueSize,
		Gateway:         cfg.GatewayID,
		Session:         inference.SessionConfig{IntraOpThreads: cfg.Inference.IntraOpThreads},
		MaxDevices:      cfg.Inference.MaxDevices,
		DeviceIdleTTL:   -1, // the device table evicts idle devices (and makes the engine forget them)
		ClockResetAfter: cfg.Inference.ClockResetAfter,
		DriftInterval:   cfg.Inference.DriftInterval,
		DriftPSIMark:    cfg.Inference.DriftPSIMark,
		DriftMinPSIRows: cfg.Inference.DriftMinRows,
		OnDrift:         onDrift,
		OnShadow:        onShadow,
		Scoring:         cfg.Inference.Scoring,
	}
	eng, err := inference.NewEngine(ecfg, log, reg)
	if err != nil {
		return nil, fmt.Errorf("inference engine: %w", err)
	}
	if err := loadStartupModel(card.loader(eng, policy), cfg, policy, log); err != nil {
		_ = eng.Close()
		return nil, err
	}
	if err := eng.SetThresholds(cfg.Inference.Thresholds.inference()); err != nil {
		_ = eng.Close()
		return nil, fmt.Errorf("inference.thresholds: %w", err)
	}
	if dir := cfg.Inference.ShadowModelDir; dir != "" {
		if err := loadShadowDir(eng, dir, policy); err != nil {
			log.Error("shadow model not loaded; serving without one", "key", "inference.shadow_model_dir", "dir", dir, "err", err)
		} else {
			log.Info("shadow model loaded", "dir", dir)
		}
	}
	return eng, nil
}

// loadStartupModel serves inference.model_dir or else the model embedded in
// the binary. A model accepted from Kafka earlier is restored over it by the
// model watcher right after (App.New), so the order of preference is: last
// accepted from Kafka, model_dir, embedded default. The model_dir package
// must pass the signature policy; the embedded one is trusted as far as the
// binary is.
func loadStartupModel(load func(*modelpkg.Package) error, cfg Config, policy modelpkg.Policy, log *slog.Logger) error {
	var errs []error
	if dir := cfg.Inference.ModelDir; dir != "" {
		pkg, err := modelpkg.LoadPackageDir(dir)
		if err == nil {
			err = policy.Check(pkg)
		}
		if err == nil {
			if len(pkg.Signature) == 0 {
				log.Warn("serving an unsigned model package (allow_unsigned is set; development only)", "dir", dir)
			}
			err = load(pkg)
		}
		if err == nil {
			log.Info("model loaded", "dir", dir)
			return nil
		}
		log.Error("model package rejected; falling back to the embedded default", "dir", dir, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", dir, err))
	}
	manifest, onnx := models.Default()
	if err := load(&modelpkg.Package{Manifest: manifest, ONNX: onnx}); err != nil {
		errs = append(errs, fmt.Errorf("embedded default model: %w", err))
		return fmt.Errorf("no servable model: %w", errors.Join(errs...))
	}
	log.Info("model loaded", "source", "embedded default")
	return nil
}
