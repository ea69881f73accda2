package wire

// Event types of the events topic (docs/formats/kafka-records.md, "Events";
// one JSON Schema each in docs/schemas/events/). Types are dotted and
// lowercase; a consumer ignores types it does not know.
const (
	// Gateway lifecycle (edge). gateway.started detail: version, model.
	EventGatewayStarted = "gateway.started"
	EventGatewayStopped = "gateway.stopped"
	// EventConfigReloaded: the configuration was reloaded (SIGHUP).
	EventConfigReloaded = "config.reloaded"
	// Local MQTT connection (edge). Detail: broker (credentials redacted).
	EventMQTTConnected    = "mqtt.connected"
	EventMQTTDisconnected = "mqtt.disconnected"
	// EventInferenceDrift: the input distribution drifted from the model's
	// training reference (edge).
	EventInferenceDrift = "inference.drift"
	// Stuck sensors (edge ingest). Detail: device, sensor, value, readings,
	// since.
	EventSensorStuck     = "sensor.stuck"
	EventSensorRecovered = "sensor.recovered"
	// EventUpstreamLoss: a device's payload seq counter skipped numbers
	// (readings lost before the gateway) or restarted, since its previous
	// such event (at most one a minute per device; edge). Detail: device,
	// gaps, missing, resets, since.
	EventUpstreamLoss = "ingest.upstream_loss"
	// EventBrokerDropping: the MQTT broker's $SYS dropped-messages counter
	// grew (edge). Detail: broker, dropped (the broker's total), increase.
	EventBrokerDropping = "mqtt.broker_dropping"
	// Sparkplug B presence (edge ingest, format sparkplug_b): a birth
	// (NBIRTH, DBIRTH) and a death (NDEATH, DDEATH; an NDEATH takes its
	// devices offline too). Detail: device, cause (the message type),
	// bd_seq.
	EventDeviceOnline  = "device.online"
	EventDeviceOffline = "device.offline"

	// EventBufferDropped: records dropped from one buffer stream for one
	// reason since the previous such event (DroppedEvent).
	EventBufferDropped = "buffer.dropped"
	// EventBufferRecovered: the buffer file was unusable at start and was
	// moved aside (RecoveredEvent).
	EventBufferRecovered = "buffer.recovered"

	// Kafka uplink (bridge).
	EventUplinkOnline  = "uplink.online"
	EventUplinkOffline = "uplink.offline"
	EventRecordDropped = "uplink.record_dropped"
	// A stream whose topic Kafka does not take (missing, not writable) and
	// its recovery. Detail: stream, topic, and error (failing) or
	// failed_seconds (recovered).
	EventStreamFailing   = "uplink.stream_failing"
	EventStreamRecovered = "uplink.stream_recovered"
	// Model delivery (bridge's model watcher). Detail: model, version, and
	// per type reason/error (rejected) or from_version (rolled back).
	EventModelReceived  = "model.received"
	EventModelVerified  = "model.verified"
	EventModelActivated = "model.activated"
	EventModelRejected  = "model.rejected"
	EventModelRollback  = "model.rolled_back"
	EventModelRetired   = "model.retired"

	// Central tools (not a gateway: the envelope's gateway field and the
	// record key are the tool's name, EventSourceTrain or EventSourceFleet).
	// EventModelTrained: edgepm-train --from-kafka wrote a package. Detail:
	// model, version, from, to, rows, positives, failures, and the held-out
	// devices' precision, recall, auc.
	EventModelTrained = "model.trained"
	// EventModelEvaluated: edgepm-train --evaluate decided between a
	// champion and a challenger. Detail: champion, challenger (name:version),
	// from, to, winner, reason, and each side's precision, recall and auc
	// (absent for a side not scored).
	EventModelEvaluated = "model.evaluated"
	// Staged rollouts (fleet/rollout): a rollout record was written.
	// Detail: rollout, model, version, stable, state, by, reason.
	EventRolloutStarted  = "rollout.started"
	EventRolloutPromoted = "rollout.promoted"
	EventRolloutAborted  = "rollout.aborted"
)

// Names central tools write events under (the envelope's gateway field).
const (
	EventSourceTrain = "edgepm-train"
	EventSourceFleet = "edgepm-fleet"
)

// EventTypes lists every event type above (the schema test walks it).
var EventTypes = []string{
	EventGatewayStarted, EventGatewayStopped, EventConfigReloaded,
	EventMQTTConnected, EventMQTTDisconnected, EventInferenceDrift,
	EventSensorStuck, EventSensorRecovered, EventUpstreamLoss, EventBrokerDropping, EventDeviceOnline, EventDeviceOffline, EventBufferDropped, EventBufferRecovered,
	EventUplinkOnline, EventUplinkOffline, EventRecordDropped,
	EventStreamFailing, EventStreamRecovered,
	EventModelReceived, EventModelVerified, EventModelActivated,
	EventModelRejected, EventModelRollback, EventModelRetired,
	EventModelTrained, EventModelEvaluated,
	EventRolloutStarted, EventRolloutPromoted, EventRolloutAborted,
}
