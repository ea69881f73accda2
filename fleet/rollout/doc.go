// Package rollout is edgepm's staged rollout, run centrally: the signed
// rollout record on the compacted rollouts topic (default edgepm.rollouts,
// key = model name, one current rollout per name), the selection of canary
// gateways, the operator's transitions (canary, shadow, promote, abort,
// rollback) and the automatic rule with its runner.
//
// # Basics
//
// Every change writes a signed release (bridge.Release) to the models
// topic first, which is what gateways act on, and then the signed Record,
// which is the rollout's state and history: any `edgepm fleet` instance
// resumes a rollout from it. Records are signed like releases, with their
// own context string (Context), by a model-signing key; a record that no
// configured key verifies is ignored.
//
// Decide is the automatic rule as a pure function of a record, what the
// fleet reported (model.activated / model.rejected events of the events
// topic, shadow agreement from the gateways topic's heartbeats) and the
// time. Runner applies it to the rollouts a Kafka consumer group assigns
// it, so several runners share the rollouts by partition (by name).
//
// # Concurrency
//
// Record, Resolve, Decide, Sign and Verify are plain functions on values.
// Store and Operator are safe for concurrent use; their methods block on
// Kafka until their context ends. Runner.Run blocks until its context ends
// and owns the goroutines it starts.
//
// # Caveats
//
// The runner reads the events topic from RunnerConfig.Lookback ago at
// start: a rollout older than that resumes on heartbeats alone (a
// heartbeat showing the version active counts as model.activated).
// See docs/formats/rollouts.md.
package rollout
