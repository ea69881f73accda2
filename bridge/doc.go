// Package bridge is everything of edgepm that talks to Kafka, with franz-go:
// the Producer that drains the durable buffer to Kafka topics, the
// ModelWatcher that receives model packages from the compacted models topic,
// the operator-side PublishModel/ListModels/RollbackModel and the signed
// releases (PublishRelease, LatestRelease), topic set-up with
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
//   - Order, exactly: a device's records always land in one partition (key
//     hashing) and one stream's records are handed to kgo in sequence order,
//     also across a backlog phase (backlog.go: a device with backlog sends
//     everything on the backlog path). So, without failures, a device's
//     records are appended in sequence order. After a failure the stream
//     is re-sent from its watermark (acknowledged records are skipped) in
//     sequence order; kgo's idempotent producer fails every later buffered
//     record of the partition too, so in the usual case the order is kept,
//     but the narrow window under Caveats can append a later record ahead of
//     a failed one, and a record sent again (after a failure or a restart)
//     is a duplicate that lands after records with higher sequence numbers.
//     What holds in every case is the sequence number: a consumer that needs
//     a device's records in order de-duplicates and orders by edgepm-seq
//     within (edgepm-gateway, edgepm-stream).
//   - Priority: in-flight slots (Config.MaxInFlight) go to streams by the
//     buffer's stream priority (alerts, events, predictions, deadletter,
//     readings by default), live records of every stream before backlog.
//   - Live first: when Kafka is reached (at start and after an outage) a
//     stream with more than two read batches waiting enters a backlog phase;
//     see backlog.go for the per-device rule that keeps order.
//   - An unreachable cluster does not block NewProducer or anything else;
//     Run probes with exponential backoff and full jitter, reports the link
//     online/offline in Status and metrics, and appends uplink.online and
//     uplink.offline events to the events stream (wire.EventRecord).
//   - A record Kafka will never accept is dropped so it cannot block its
//     stream: larger than batch_max_bytes (before sending), or refused with
//     MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_RECORD,
//     CORRUPT_MESSAGE or INVALID_TIMESTAMP. Kafka refuses whole batches, so
//     the stream is re-sent a few records at a time until the refused
//     record fails twice alone in flight (drops.go); only it is dropped,
//     counted (edgepm_bridge_records_dropped_total{stream,reason},
//     StreamStatus.Dropped), logged, reported as uplink.record_dropped and
//     acknowledged in the buffer. Every other failure, topic authorization
//     included, is retried forever, with backoff and the error in Status.
//   - Isolation: a stream Kafka does not take (its topic missing, not
//     writable, or unanswered while other streams are acknowledged) is
//     failing (health.go): its records stay in the buffer and are retried
//     with its own backoff, it holds at most 64 records in flight, it does
//     not count toward the link's liveness, and it is reported in Status
//     (StreamStatus.Failing, Status.Conditions), by uplink.stream_failing /
//     uplink.stream_recovered events and a warning at most once a minute. A
//     healthy stream holds at most MaxInFlight less one ReadBatch per other
//     stream (at most half). At start a metadata request names every
//     missing stream topic.
//
// # Model delivery
//
// ModelWatcher consumes the models topic from the beginning without a
// consumer group. The engine serves one model, so a gateway follows one
// model name (ModelWatcherConfig.Name, else the first name targeting it,
// remembered on disk); other names are only reported. Once it has read up
// to the topic's end offsets, it acts on the latest pointer of that name.
// The pointer's signed release (Release) must verify with the policy keys
// and carry a counter not below the highest accepted for the name (kept on
// disk), else the pointer is refused (reason release; allow_unsigned
// accepts a pointer without a release). The release says which version
// this gateway serves (a canary's stable version outside the canary) and
// which shadow it scores beside it. For the version served, the watcher
// checks the declared size and the manifest signature before staging
// anything, stages only that version's chunks (each checked for index,
// length and digest before it is written, so never more than the declared
// size), verifies the ONNX sha256 and the signature, stores the package
// atomically (modelpkg.Store), hands it to Activate (inference.Engine.Load)
// and only then makes it the version restored at the next start. Every
// signature check applies ModelWatcherConfig.Policy (modelpkg.Policy, the
// gateway's one signature policy), including on the stored package at
// Restore and on a rollback. The bridge does not link ONNX Runtime: the
// model package is inference/modelpkg, and the engine is reached only
// through the Activate hook. Every name and version
// is validated before it becomes a path, so nothing on the topic can write
// outside the model directory. Restore activates the stored package of the
// served name without Kafka. A tombstone of the served name calls Retire.
// The shadow is staged the same way, only once the served version is
// active, and handed to the Shadow hook (edge: App.LoadShadow);
// ClearShadow when a release drops it.
// While Kafka does not answer, the watcher retries with an exponential,
// jittered backoff (ModelWatcherConfig.RetryBackoffMin/Max, 1s to 60s by
// default, reset once Kafka answers; its client's own retries follow the
// same bounds) and logs one line when Kafka stops answering and one when it
// answers again. A rejection is counted and evented each time; the same
// rejection is logged at error level once. The wire format is
// docs/formats/model-delivery.md.
//
// # Logs
//
// franz-go's failed connection attempts are logged at debug; its other
// warnings and errors at their level once per message per minute (debug in
// between), so an outage gives a few lines, not one per retry: the
// producer's link state (kafka offline/online) and the watcher's
// reachability lines say what happened. Each component's logger carries
// component= once: the producer adds "bridge", the watcher "models".
//
// # Blocking and concurrency
//
// NewProducer does not block. Run blocks until its context ends, then waits
// up to Config.ShutdownTimeout for in-flight acknowledgements. Status and
// SetBacklogLimits are safe for concurrent use and never block on Kafka or
// disk. Close closes
// the Kafka client; call it after Run returned. ModelWatcher.Run blocks until
// its context ends; Restore blocks while the package loads and must not run
// beside Run; Models is safe for concurrent use. PublishModel, ListModels,
// RollbackModel, PublishRelease and LatestRelease block until done
// or their context ends. Shutdown order (enforced by
// edge): stop ingest, drain the pipeline, cancel Run's context and wait for
// Run, Close the producer, close the buffer (last).
//
// # Caveats
//
// When a produce fails, kgo fails every record buffered for its partition
// and restarts the partition's sequence; a record handed to kgo after that
// could be appended ahead of the failed ones. The pump stops dispatching a
// stream at its first failure and cancels the context of the stream's
// unsent batches (pump.go, dispatch), which closes that window except when
// kgo's promise goroutine is delayed past the linger while the pump is
// dispatching the same stream.
//
// buffer.Queue.Ack deletes a prefix only, so records acknowledged ahead of
// the watermark (live records sent during a backlog phase) stay in the buffer
// until the backlog reaches them; a restart in that window sends them again
// (duplicates, same de-dup key).
package bridge
