package ingest

import (
	"errors"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// spRebirthMetric is the metric of a rebirth request (Sparkplug B 3.0,
// "Node Control/Rebirth"): an NCMD with it set to true asks the edge node
// to publish its NBIRTH and DBIRTHs again.
const spRebirthMetric = "Node Control/Rebirth"

// maybeRebirth asks the edge node of t to be born again after err, when
// err means its births are missing or out of date (no_birth,
// unknown_alias, seq_gap), rebirth requests are enabled, a publisher was
// given, and the last request to the node is at least
// sparkplug.rebirth.min_interval old.
func (d *sparkplugDecoder) maybeRebirth(s *spSession, t *spTopic, now time.Time, err error) {
	var ie *InvalidError
	if !d.cfg.Rebirth.Enabled || s.publish == nil || !errors.As(err, &ie) {
		return
	}
	if ie.Reason != ReasonNoBirth && ie.Reason != ReasonUnknownAlias && ie.Reason != ReasonSeqGap {
		return
	}
	n := s.node(t, d.cfg.NodeID, false)
	if n == nil || !n.lastRebirth.IsZero() && now.Sub(n.lastRebirth) < d.cfg.Rebirth.MinInterval {
		return
	}
	topic := spNamespace + "/" + t.group + "/" + spNCMD + "/" + t.node
	if s.publish(topic, 0, false, rebirthPayload(now)) != nil {
		return // not connected: the next message that needs it tries again
	}
	n.lastRebirth = now
	s.rebirths.Add(1)
}

// rebirthPayload is the Payload of an NCMD that requests a rebirth.
func rebirthPayload(now time.Time) []byte {
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.BytesType)
	m = protowire.AppendString(m, spRebirthMetric)
	m = protowire.AppendTag(m, 3, protowire.VarintType)
	m = protowire.AppendVarint(m, uint64(now.UnixMilli()))
	m = protowire.AppendTag(m, 4, protowire.VarintType)
	m = protowire.AppendVarint(m, spBoolean)
	m = protowire.AppendTag(m, 14, protowire.VarintType)
	m = protowire.AppendVarint(m, 1)

	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(now.UnixMilli()))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}
