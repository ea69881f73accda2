// Package fleet is the central view of an edgepm fleet, built from Kafka
// records alone: the last heartbeat of every gateway (the compacted
// <prefix>gateways topic, wire.Heartbeat), the release each model's pointer
// carries (the compacted <prefix>models topic, bridge.Release), and the
// recent alerts and events of all gateways (<prefix>alerts,
// <prefix>events). `edgepm fleet status` prints it once; `edgepm fleet
// serve` keeps it live behind a read-only web console.
//
// # Basics
//
// A View holds the state; Reader feeds it from Kafka; Snapshot returns a
// Fleet, the /api/fleet document (docs/formats/fleet-api.md). A gateway is
// stale when its last heartbeat record is older than StaleAfter (3) times
// its interval_s, measured with the view's clock (Options.Now). A
// tombstone on the gateways topic (edgepm decommission) removes the
// gateway; a tombstone on a model's pointer removes its rollout.
//
// # Why no consumer group
//
// The issue asks for consumer groups so that several console instances
// share the work. The console's work is not divisible that way: every
// instance must show every gateway, and a group would hand each instance
// only some partitions of the gateways topic. So each instance reads the
// compacted state topics whole, from their start, without a group (the
// compacted topics hold one record per gateway and per model key, so this
// is bounded by the fleet's size, not by time), and reads only the last
// RecentMax records of each alerts and events partition. Instances share
// nothing and need no coordination; run as many as there are operators.
// The work that must happen once (the automatic rollout rule, which writes
// signed records) belongs in a consumer group, and lives in fleet/rollout.
//
// # Bounds
//
// Memory is bounded by the number of gateways (Options.MaxGateways,
// default 100,000; more are refused and counted), each value at 64 KiB
// and each gateway's conditions at 32; RecentMax entries are kept. 10,000
// gateway states take about the figure docs/operations.md gives
// (TestMemoryOf10000Gateways measures it).
//
// # Concurrency
//
// View's methods are safe for concurrent use; they take one mutex and do
// not block otherwise. Reader.CatchUp and Reader.Run block on Kafka until
// caught up or until their context ends. Server.Serve blocks until its
// context ends. The console never writes to Kafka: no HTTP endpoint
// changes anything.
package fleet
