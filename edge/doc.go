// Package edge is the appliance: it wires MQTT ingest (package
// edge/ingest), the durable buffer, local inference and alerting, the
// Kafka bridge and the model watcher into one App, and serves health,
// metrics and status over HTTP. Its exported surface is what cmd/ uses:
// Config (and the types of its sections) with Load and Parse,
// ParseLogLevel, New, App, Status (and its parts) and Version. The records
// it writes (values, headers, events, the buffer's drop reports) are built
// with internal/wire, the owner of the wire format.
//
// # Basics
//
// Load (or Parse) reads and validates a Config; New opens every component
// (buffer, ONNX Runtime and a warm model, clients) without connecting; Run
// connects, reports READY to systemd, runs until its context ends, and then
// shuts down in the documented order (App.Run). An App runs once. Its
// HTTP server serves the embedded status page (ui/) and, for it,
// /api/status and /api/history: the last hour sampled every 10 s into
// fixed-size rings, the last 100 alerts and each device's last 60 scores
// (history.go). Every fleet.heartbeat_interval it writes a heartbeat, the
// gateway's state as /api/status computes it (wire.Heartbeat), to the
// buffer's gateways stream, the compacted gateways topic (heartbeat.go).
//
// # Guarantees
//
//   - A QoS 1 MQTT message is acknowledged only after its readings, or its
//     dead-letter record, are durable in the buffer. A batch that cannot be
//     committed is never acknowledged (the broker redelivers it).
//   - Invalid input never panics and is never dropped silently: it becomes
//     a dead-letter record with a reason and the (truncated) raw payload, and
//     is counted in edgepm_ingest_invalid_total.
//   - Scoring does not wait for the disk: readings reach inference before
//     their commit. Alerts are published to local MQTT as they are raised.
//   - When the buffer cannot keep up, ingest slows (acknowledgements wait);
//     predictions and alerts wait up to a bound and are then dropped and
//     counted (edgepm_records_dropped_total), so a wedged disk does not stop
//     scoring or local alerts.
//   - Per-device state (status, stuck-sensor check, inference windows and
//     alert state) is bounded by one registry, the device table: at most
//     inference.max_devices devices, the least recently seen evicted first,
//     devices idle for inference.device_idle_ttl evicted at the next
//     reading, every eviction counted in edgepm_devices_evicted_total. A
//     local alert's topic is built from the fields its device's reading
//     carried, never from a table that may have evicted the device.
//   - Heartbeats are written in order through the buffer (their own capped
//     stream), so after an outage the newest state arrives last; one that
//     cannot be committed within 5 s is skipped and counted
//     (edgepm_records_dropped_total{stream="gateways"}), never retried
//     behind the next one.
//
// # Concurrency
//
// App.Status and App.Reload are safe for concurrent use with Run. Every
// goroutine Run starts is owned by it and waited for before Run returns
// (paho's own goroutines end with Disconnect). The ingest Sink (App.prepare)
// runs on the ingest pipeline's decode goroutine and may block there while
// inference's queue is full, which slows ingest (backpressure).
package edge
