// Package inference scores machine health on the gateway: per-device
// feature windows (package features), micro-batched ONNX Runtime sessions,
// alerts with hysteresis, drift statistics and safe hot swap of models.
// The model package as data (manifest, digests, signatures, the signature
// policy, rejection reasons) is package modelpkg, which has no cgo; this
// package is the one that links ONNX Runtime.
//
// # Basics
//
// Call InitRuntime once per process, create an Engine, Load a Package, start
// Run in a goroutine and feed readings with Observe:
//
//	inference.InitRuntime(libPath)
//	e, _ := inference.NewEngine(cfg, log, reg)
//	e.Load(pkg)
//	go e.Run(ctx, func(b *inference.Batch) { ... }) // b is valid only during the call
//	e.Observe(ctx, inference.Reading{Device: "pump-0001", Time: t, Values: v})
//
// # Guarantees
//
//   - A model serves only after it passed every check listed on Engine.Load
//     and a warm-up run; a rejected package leaves the current model serving
//     and returns a *modelpkg.RejectError whose Reason names the failed
//     check. Load does not judge signatures: callers apply the gateway's
//     modelpkg.Policy first (see Engine.Load).
//   - Every feature row queued by Observe is scored exactly once, by the
//     model whose feature spec produced it, and emitted once, while Run runs
//     (also across swaps: rows queued before a swap finish on the old model,
//     whose session is destroyed after its last row).
//   - Each prediction carries the model name and version, its window end
//     time and a hash of its feature vector (lineage).
//   - Feature vectors and predictions hold only finite numbers: a feature
//     that is NaN or Inf after the float32 conversion (e.g. the mean of
//     readings of 1e39) is imputed and counted, and a row whose model outputs
//     are not all finite gives no prediction; it is counted in
//     edgepm_inference_invalid_outputs_total and logged at most every 10s.
//   - Per-device state is bounded: at most EngineConfig.MaxDevices devices
//     (default 10,000); at the bound a new device evicts the least recently
//     seen one, and devices idle for DeviceIdleTTL (default 24h, engine
//     clock) are evicted by Run. An evicted device's window and alert state
//     are lost (counted in edgepm_inference_devices_evicted_total). A caller
//     with its own device registry calls Forget for the devices it evicts
//     instead (edgepm does: one bound for all its per-device state).
//     A tracked device costs its window's samples plus about 0.7 KB
//     (window header and times, device state, map entry); Observe's scratch
//     is pooled and the drift sums are per model, not per device.
//   - ONNX Runtime sessions default to one intra-op and one inter-op thread
//     with spinning disabled (SessionConfig). Input/output tensors are
//     allocated once per model (bucketed by batch size, see session.go).
//     Observe computes feature vectors into reused per-model slabs of one
//     batch each, in queue order (feats.go). Scoring allocates nothing per
//     batch: Run hands emit a Batch, a view of the scored rows and of a
//     reused output buffer that is valid only during the call (batch.go).
//     Consumers read it in place or copy (Batch.AppendPredictions).
//   - Alerts follow one rule, alertRule (alerts.go): every row with finite
//     outputs is stepped through it, in queue order, on either scoring
//     path.
//
// # Scoring paths
//
// EngineConfig.Scoring selects how a batch reaches ONNX Runtime. The
// reference path copies the batch's feature vectors into the model's input
// tensor. The fast path (the default) reads a batch where Observe computed
// it, through a tensor over its feature slab, when the batch is a slab's
// first rows in order and nothing past them is being written; otherwise it
// copies too. Its invariant is written on inPlace (fastpath.go), which
// holds all of it. The paths differ in nothing else: outputs, the alert
// rule, metrics and emit are the same code, and a randomised test runs
// both against the same reference for every kind of alert rule. Cost
// beyond ONNX Runtime's own Run: docs/bench/inference.md.
//
// # Shadow model
//
// LoadShadow adds a challenger that scores the same windows as the served
// model (the feature vectors Observe computed for it) on its own goroutine
// and ONNX Runtime session, and compares: ShadowStats gives the share of
// windows on which both made the same alert decision (each by its own
// raise threshold and direction) and the mean absolute score difference.
// Its predictions go to EngineConfig.OnShadow; it raises no alerts and
// changes no device state. It cannot delay or change served scoring: after
// emit, Run copies each batch's vectors into the shadow's bounded inbox
// (EngineConfig.ShadowQueue rows) or, past its bound, drops them, counted in
// edgepm_inference_shadow_dropped_total; it never waits for the shadow. A
// shadow's ONNX Runtime error or non-finite output is only counted
// (edgepm_inference_shadow_score_errors_total) and logged. Without a
// shadow the served path pays one atomic load per batch.
//
// # Blocking and concurrency
//
// Observe, Load, LoadShadow, ClearShadow, ShadowStats, Active, Drift,
// SetThresholds, Thresholds and Close are safe for concurrent use. Observe blocks only while the row queue is full
// (backpressure, counted in edgepm_inference_queue_waits_total); it holds
// the model's slab lock while it copies a row in and offers it to the queue,
// so concurrent Observe calls for one model queue their rows one at a time.
// Load and LoadShadow block for the validation and warm-up (milliseconds
// for small models); ClearShadow for the shadow's batch in progress.
// OnShadow is called from the shadow's goroutine. Run is the single scoring goroutine; emit and OnDrift
// are called from it and should return quickly; Run also sweeps idle
// devices. Close waits for Run to drain.
//
// # Caveats
//
//   - The ONNX Runtime environment is process-global; InitRuntime loads it
//     once and it is never destroyed.
//   - Readings with timestamps older than their device's newest sample are
//     dropped (counted); when 3 in a row are older by more than
//     EngineConfig.ClockResetAfter (default 5m: the device's clock was set
//     back), the device's window restarts instead (counted, logged).
//     Readings without a valid value for the model's sensors are dropped
//     (counted, reason no_values). Missing and NaN/Inf values are treated as missing
//     samples; features without valid samples are imputed with the training
//     mean (see package features).
//   - Rows still queued when Close is called without a running Run are dropped
//     and counted (reason "closed").
package inference
