package ingest

import (
	"strconv"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// SysDroppedTopic is where Mosquitto publishes (retained, every
// sys_interval) how many PUBLISH messages it dropped because a client's
// in-flight window and queue were full (max_inflight_messages,
// max_queued_messages): messages a QoS 1 subscriber never receives.
const SysDroppedTopic = "$SYS/broker/publish/messages/dropped"

// watchSys subscribes to SysDroppedTopic once the ingest subscriptions are
// granted. It is best effort: a broker that does not publish $SYS sends
// nothing, and one that refuses the subscription is only logged at debug
// level; neither affects ingest or readiness.
func (in *Client) watchSys(c mqtt.Client, gen uint64) {
	tok := c.Subscribe(SysDroppedTopic, 0, nil) // delivered through route
	if !in.waitToken(tok, gen) || tok.Error() != nil {
		return
	}
	if refused(tok.(*mqtt.SubscribeToken).Result(), []string{SysDroppedTopic}) != nil {
		in.log.Debug("mqtt: the broker refused "+SysDroppedTopic+"; its dropped-message count is not watched", "broker", RedactURL(in.cfg.Broker))
	}
}

// isSys reports whether topic is a broker's $SYS topic (no subscription
// template can match one: MQTT wildcards never match a leading $).
func isSys(topic string) bool { return strings.HasPrefix(topic, "$SYS/") }

// handleSys records a $SYS message's value (QoS 0: nothing to
// acknowledge). A value that is not a number is ignored.
func (in *Client) handleSys(m mqtt.Message) {
	if m.Topic() != SysDroppedTopic {
		return
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(m.Payload())), 10, 64)
	if err != nil {
		in.log.Debug("mqtt: ignoring a $SYS value that is not a count", "topic", m.Topic(), "err", err)
		return
	}
	in.sysDropped.Store(n)
	if !in.sysKnown.Load() {
		in.sysFirst.Store(n)
		in.sysKnown.Store(true)
	}
}

// BrokerDropped returns the broker's own count of dropped messages
// (SysDroppedTopic) as last published, the first count the client
// received (a baseline: the broker may have dropped messages of other
// clients before), and whether the broker published one at all. The count
// is the broker's since it started, for all its clients, and goes back to
// 0 when the broker restarts.
func (in *Client) BrokerDropped() (now, first uint64, ok bool) {
	if !in.sysKnown.Load() {
		return 0, 0, false
	}
	return in.sysDropped.Load(), in.sysFirst.Load(), true
}
