// Package replay turns recorded readings into the feature rows a gateway
// scores, through the serving feature code (features.Plan and Window, as
// the inference engine uses them), so that a model is trained on exactly
// what it will be fed: `edgepm features export` and `edgepm model build
// --train` use it.
//
// # Basics
//
// Readings come as JSON lines in the edgepm.readings record format
// (docs/schemas/reading.schema.json; ts in unix ms) or as CSV with a header
// `device,ts,SENSOR...` (ts in unix ms or RFC 3339; an empty cell is a
// missing sensor). Read decodes either; an Exporter keeps one window per
// device and returns a row whenever the gateway would score one.
//
// # Skips
//
// A reading is skipped exactly where the engine drops it: no valid value
// for any of the model's sensors (features.ErrNoValues) or older than its
// device's newest reading (features.ErrOutOfOrder). Readings missing some
// of the model's sensors are used (the missing statistics are imputed with
// the training means, as on the gateway) and counted. Counts reports all
// of it. The engine's clock-reset rule (a device whose clock is set back by
// more than inference.clock_reset_after starts a new window) is not
// reproduced: recorded data with clock jumps should be split per run.
//
// # Concurrency
//
// Read blocks on its reader. An Exporter is not safe for concurrent use.
package replay
