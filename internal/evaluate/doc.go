// Package evaluate compares a challenger model package with the champion
// (the package serving now) on the same time-based holdout taken from the
// Kafka log: the rows internal/trainset extracts for [From, To), each
// package's own features and window, scored by ONNX Runtime through
// inference.Evaluate as the gateway scores them. It computes AUC,
// precision and recall at each package's own alert threshold and
// direction, the alert lead time before failures and, for remaining
// useful life in seconds, the RMSE; Decide applies the documented rule
// (docs/models.md, "Champion and challenger"); a Report is written as
// markdown and JSON (docs/schemas/evaluation.schema.json).
//
// Run blocks while it reads Kafka and runs ONNX Runtime
// (inference.InitRuntime must have been called); it is safe for
// concurrent use. The metric and decision functions are pure.
package evaluate
