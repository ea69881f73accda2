// Package ingest is edgepm's MQTT ingest: the connection to the broker
// (Client), topic templates (TopicTemplate), payload formats (Decoder),
// the validation every format shares (ValidationConfig), the stuck-sensor
// check, and the Pipeline that turns queued messages into decoded batches
// and acknowledges them once its caller has committed them.
//
// # Basics
//
// NewClient builds a paho client for an MQTTConfig; Start connects (paho
// retries in the background; failures are logged with backoff). Every message goes, with the subscription
// it arrived on, into a bounded queue (Messages). NewPipeline builds the
// decoders of the subscriptions; Pipeline.Run takes what has queued up (up
// to 1024 messages), matches each topic against its subscription's
// template, decodes the payload with its subscription's Decoder
// (mqtt.subscriptions[i].format, default "edgepm"), and hands the Batch
// to the Sink the caller supplied. The Sink returns the batch's commit;
// Run runs it on a second goroutine while it decodes the next batch, and
// acknowledges the batch's messages once it returned nil.
//
// Client.Connected turns true only once the broker's SUBACK granted every
// subscription (handleConnect waits for it on paho's per-connection
// goroutine); a refused one (0x80) is a *SubscribeError from
// Client.SubscribeErr, retried every 30 s. The Client also subscribes to
// the broker's $SYS dropped-messages count (SysDroppedTopic), best effort:
// Client.BrokerDropped. SeqTracker follows one device's payload counter to
// tell readings lost upstream (gaps) from device restarts (resets) and
// QoS 1 redeliveries (duplicates); the caller keeps one per device.
//
// The formats are "edgepm" (its own JSON, with a reflection-free fast path),
// "flat" (flat JSON objects mapped by the subscription's flat block,
// FlatMapping) and "telegraf" (Telegraf's JSON serializer output,
// TelegrafMapping); the last two read with a strict JSON reader of their
// own (jsonReader) and may take a reading's device from the payload.
// "sparkplug_b" is Eclipse Sparkplug B (Tahu protobuf read with protowire;
// births, aliases, seq and bdSeq are tracked per edge node, deaths become
// Batch.Presence changes, and rebirth requests go out through
// Pipeline.SetPublish when enabled). A new
// payload format is a Decoder registered by name in this package (see
// NewDecoder, the formats map); the checks every format shares (payload
// size, device list, timestamp skew, finite and in-range values, waveform
// limits) are applied to its readings for it.
//
// # Guarantees
//
//   - A message is acknowledged only after the commit of its batch
//     returned nil; acknowledgements go out in arrival order. A commit
//     error leaves the batch unacknowledged: with a persistent session the
//     broker redelivers it.
//   - Bad input never panics and is never dropped silently: every message
//     of a batch is either decoded into readings or listed in Batch.Invalid
//     with its reason (InvalidError, one of the Reason constants). A
//     message whose topic fits no subscription goes with the first one and
//     is reported as ReasonBadTopic, so it is still acknowledged.
//   - Payloads are read strictly: invalid UTF-8, a repeated key, null
//     where a number belongs (unless validation.null_values: skip) and a
//     sensor name over MaxSensorName bytes are rejected, never turned
//     into a value; a topic whose device id is not 1 to MaxDeviceID bytes
//     of letters, digits and - _ . : @ is bad_topic. Errors name the
//     field path (values.temp, readings[2].values.temp).
//   - Memory is bounded: the queue by mqtt.max_unacked messages (and
//     16 MiB held beyond it while the queue is full), a batch by 1024
//     messages, the decoder's caches of names and topics by fixed counts,
//     the flat and telegraf readers' nesting by 32 levels, the ValuesJSON
//     buffer of a batch by its payloads (not kept beyond 1 MiB),
//     the stuck-sensor check by 256 sensors per device and, in devices, by
//     the caller's device registry, which drops the devices it evicts with
//     Pipeline.ForgetDevice; a sparkplug_b session by MaxSparkplugMetrics
//     per payload, MaxSparkplugEntities nodes and devices and
//     MaxSparkplugDefinitions metric definitions (least recently used
//     evicted first).
//
// # Caveats
//
//   - A batch's Reading.Values maps (and ValuesJSON) are reused for the
//     next batch: the Sink must copy what it keeps. Fields maps and sensor
//     names may be kept.
//   - StopReceiving leaves later deliveries unacknowledged with the broker
//     rather than queueing them; QoS 0 messages arriving then are lost, as
//     QoS 0 allows.
//
// # Blocking and concurrency
//
// When the queue is full, the Client holds what paho delivers (in order,
// at most 16 MiB) and paho keeps reading the connection, so its keepalive
// is answered however long ingest waits: backpressure stalls delivery, not
// the connection. With QoS 1 the broker's in-flight window bounds what it
// sends unacknowledged. Only when 16 MiB are held does paho's delivery
// callback block, which stops paho reading from the socket: the broker
// holds the rest (backpressure, not loss), and a PINGRESP behind it may go
// unread (the connection then drops and the broker redelivers). The Sink may block (for example while scoring is behind);
// that slows ingest the same way. Pipeline.Run blocks until Messages is
// closed (StopReceiving) and every batch taken is committed or refused.
//
// Client's methods are safe for concurrent use. Decoders, TopicTemplate
// and a ValidationConfig with defaults applied are immutable and safe for
// concurrent use; a sparkplug_b decoder's session state is lent by the
// Pipeline and used only on its decode goroutine (used without a
// Pipeline, the decoder keeps its own and is not safe for concurrent use). Pipeline.Run runs once at a time; SetValidation,
// LastTurn, OldestUnacked and StuckSensors are safe for concurrent use
// with it.
package ingest
