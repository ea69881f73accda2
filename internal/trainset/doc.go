// Package trainset builds a training set from the Kafka log: it consumes
// edgepm.readings for a time range in a consumer group, rebuilds each
// device's feature windows with the serving feature code (inference/replay's
// Exporter, i.e. features.Plan and Window as the gateway's engine uses
// them), and labels each row from the edgepm.labels topic (a failure within
// Config.Horizon after the window end). cmd/edgepm-train trains on it.
//
// # Basics
//
// Extract first reads the whole labels topic (small: one record per work
// order) with a plain consumer, then consumes the readings topic in the
// consumer group Config.Group, one goroutine per assigned partition, from
// the start of each partition to its end offset as listed when Extract
// began (records produced later are not read). Readings whose ts is outside
// [From, To) are skipped. Records are keyed by device, so a device's
// readings are in one partition and in order: a partition is the unit of
// work. Its rows count only once the partition is read to its end offset;
// Extract then commits that offset for the group. A partition taken away by
// a rebalance before its end is dropped and read again from its start by
// its new owner, so several processes sharing a group (on several machines)
// together extract each partition exactly once, each returning the rows of
// the partitions it finished; a member left without partitions (more
// members than partitions) returns, with no rows, once the group has
// committed every partition (it asks every 2 s). A group name is one extraction: a group whose
// offsets are committed at the end has nothing left to read.
//
// # Rows and labels
//
// A row is what the gateway would score (features.Row). Rows are dropped
// while the device is down (after a failure label, before the next
// maintenance label) and until the window holds only readings from after the
// last maintenance; Config.Every keeps at most one row per device per Every
// of window-end time (0: every row). A row's label is 1 when a failure label
// of its device falls in [window end, window end + Horizon], else 0.
//
// # Bad input
//
// Counted in Counts, never fatal: records that are not edgepm.readings
// values, duplicates (a record whose edgepm-seq is not above the last one
// of its device's gateway: the bridge's at-least-once resends), readings
// the gateway would drop (replay.Counts), labels that do not decode, labels
// of devices with no reading in the partitions read (UnknownDeviceLabels).
// Gaps in a device's readings are handled by the feature windows exactly as
// on the gateway. Too few failures is an error of Result.CheckFailures
// (*TooFewFailuresError), not of Extract.
//
// # Memory
//
// One feature window per device (Size samples × (channels + 1) × 8 bytes)
// plus small per-device state and the rows kept (Every bounds them to one
// per device per Every); never the readings themselves.
//
// # Concurrency
//
// Extract blocks until every partition assigned to it is done (or, with
// none, until the group has finished them all), ctx ends or Kafka fails; it starts one goroutine per assigned partition and waits for all
// of them. Several Extract calls may run at once (they share nothing).
package trainset
