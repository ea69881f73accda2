// Package bridge is everything of edgepm that talks to Kafka, with franz-go:
// the Producer that drains the durable buffer to Kafka topics, the
// ModelWatcher that receives model packages from the compacted models topic,
// the operator-side PublishModel/ListModels/RollbackModel, topic set-up with
// kadm, and the TLS/SASL client configuration shared by every client.
//
// # Basics
//
// A Producer reads every buffer stream in sequence order and produces each
// record to the stream's topic (Config.TopicPrefix + stream name) with the
// record's key (the device id; events: the gateway id), its value, its time
// and headers: the record's own (edgepm-schema, edgepm-model) followed by
// edgepm-gateway, edgepm-stream, edgepm-seq and, for records sent from a
// backlog, edgepm-backlog: 1. The wire format is in
// docs/formats/kafka-records.md.
//
// The producer is idempotent with acks=all and zstd compression by default.
// A record is deleted from the buffer (buffer.Queue.Ack) only after Kafka
// acknowledged it and every record of its stream with a lower sequence was
// acknowledged too (a contiguous watermark; promises complete out of order
// across partitions). Acknowledgements are batched every Config.AckInterval.
//
// # Guarantees
//
//   - At-least-once: a record leaves the buffer only after Kafka has it. A
//     record in flight when the process stops, or when kgo fails it, is sent
//     again; consumers de-duplicate on (edgepm-gateway, edgepm-stream,
//     edgepm-seq).
//   - Order: one stream's records are handed to kgo in sequence order, a
//     device's records always land in one partition (key hashing), and kgo's
//     idempotent producer fails every later buffered record of a partition
//     when one fails, so a device's records arrive in order. After a failure
//     the stream is re-sent from its watermark (acknowledged records are
//     skipped).
//   - Priority: in-flight slots (Config.MaxInFlight) go to streams by the
//     buffer's stream priority (alerts, events, predictions, deadletter,
//     readings by default), live records of every stream before backlog.
//   - Live first: when Kafka is reached (at start and after an outage) a
//     stream with more than two read batches waiting enters a backlog phase;
//     see backlog.go for the per-device rule that keeps order.
//   - An unreachable cluster does not block NewProducer or anything else;
//     Run probes with exponential backoff and full jitter, reports the link
//     online/offline in Status and metrics, and appends uplink.online and
//     uplink.offline events to the events stream.
//   - A record that can never fit a batch (larger than batch_max_bytes) is
//     dropped, counted (edgepm_bridge_records_dropped_total) and logged; any
//     other failure is retried forever, with the error in Status.
//
// # Model delivery
//
// ModelWatcher consumes the models topic from the beginning without a
// consumer group, stages chunks on disk, verifies every chunk digest, the
// ONNX sha256 and the ed25519 signature, stores the package atomically,
// hands it to Activate (inference.Engine.Load) and only then makes it the
// version restored at the next start. Restore activates the stored packages
// without Kafka. The wire format is docs/formats/model-delivery.md.
//
// # Blocking and concurrency
//
// NewProducer does not block. Run blocks until its context ends, then waits
// up to Config.ShutdownTimeout for in-flight acknowledgements. Status is
// safe for concurrent use and never blocks on Kafka or disk. Close closes
// the Kafka client; call it after Run returned. ModelWatcher.Run blocks until
// its context ends; Restore blocks while packages load; Models is safe for
// concurrent use. PublishModel, ListModels and RollbackModel block until done
// or their context ends. Shutdown order (enforced by
// edge): stop ingest, drain the pipeline, cancel Run's context and wait for
// Run, close the buffer, Close the producer.
//
// # Caveats
//
// buffer.Queue.Ack deletes a prefix only, so records acknowledged ahead of
// the watermark (live records sent during a backlog phase) stay in the buffer
// until the backlog reaches them; a restart in that window sends them again
// (duplicates, same de-dup key).
package bridge
