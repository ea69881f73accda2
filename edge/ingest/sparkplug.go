package ingest

import (
	"strings"
	"time"
)

// sparkplugDecoder decodes FormatSparkplugB. Births define metrics
// (names, aliases, data types) and are read as readings of their values
// too; data resolves aliases against its birth; deaths mark edge nodes and
// devices offline (PresenceChange). Commands (NCMD, DCMD) are not data and
// are acknowledged without a reading.
//
// Its session state is lent by the Pipeline through Source (one per
// subscription, so it survives a reload); outside a Pipeline the decoder
// uses its own, and is then not safe for concurrent use.
type sparkplugDecoder struct {
	rules *rules
	cfg   SparkplugConfig
	own   *spSession
}

func newSparkplugDecoder(r *rules, s *Subscription) Decoder {
	d := &sparkplugDecoder{rules: r, own: newSpSession()}
	if s != nil && s.Sparkplug != nil {
		d.cfg = *s.Sparkplug
	}
	d.cfg.setDefaults()
	return d
}

// devicesFromPayload: the decoder checks validation.devices itself, per
// reading, after the session has seen the message (payloadDevices).
func (d *sparkplugDecoder) devicesFromPayload() {}

func (d *sparkplugDecoder) Decode(dst []Reading, src Source, payload []byte) ([]Reading, error) {
	t, ok := parseSpTopic(src.Topic)
	if !ok {
		return nil, invalid(ReasonBadTopic, "topic %q is not spBv1.0/<group>/<message type>/<edge node>[/<device>]", src.Topic)
	}
	s := src.session
	if s == nil {
		s = d.own
	}
	switch t.kind {
	case spNCMD, spDCMD:
		return dst, nil // commands to the edge node (ours among them), not data
	case spNBIRTH, spNDEATH, spNDATA:
		if t.device != "" {
			return nil, invalid(ReasonBadTopic, "%s topic %q has a device level", t.kind, src.Topic)
		}
	case spDBIRTH, spDDEATH, spDDATA:
		if t.device == "" {
			return nil, invalid(ReasonBadTopic, "%s topic %q has no device level", t.kind, src.Topic)
		}
	default:
		return nil, invalid(ReasonBadTopic, "unknown Sparkplug message type %q in topic %q", t.kind, src.Topic)
	}
	if err := s.pay.parse(payload); err != nil {
		return nil, err
	}
	if s.pay.compressed {
		return nil, invalid(ReasonMalformedProto, "compressed payload (uuid %s) is not supported", spCompressed)
	}
	e, err := d.apply(s, &t, src)
	if err != nil {
		d.maybeRebirth(s, &t, src.Received, err)
		return nil, err
	}
	if e == nil {
		return dst, nil
	}
	return d.reading(dst, s, e, src)
}

// apply runs a message through the session: births define, deaths mark
// offline, data is checked. It returns the entity whose metrics the
// payload carries, nil for a message without readings (a death).
func (d *sparkplugDecoder) apply(s *spSession, t *spTopic, src Source) (*spEntity, error) {
	// An unborn node is kept only to rate-limit its rebirth requests.
	create := t.kind == spNBIRTH || t.kind != spNDEATH && d.cfg.Rebirth.Enabled
	n := s.node(t, d.cfg.NodeID, create)
	if t.kind == spNBIRTH {
		return d.nodeBirth(s, n, src)
	}
	if t.kind == spNDEATH {
		d.nodeDeath(s, n, src.Received)
		return nil, nil
	}
	if n == nil || !n.born {
		return nil, invalid(ReasonNoBirth, "%s from edge node %q before its NBIRTH", t.kind, t.node)
	}
	if err := checkSeq(n, &s.pay, t.kind); err != nil {
		return nil, err
	}
	switch t.kind {
	case spNDATA:
		return &n.spEntity, nil
	case spDBIRTH:
		return d.deviceBirth(s, n, t, src)
	}
	dev := s.device(n, t.device, "", false)
	if dev == nil || !dev.born {
		return nil, invalid(ReasonNoBirth, "%s from device %q of edge node %q before its DBIRTH", t.kind, t.device, t.node)
	}
	if t.kind == spDDEATH {
		dev.born = false
		s.forgetDefs(dev)
		s.presence(dev, false, spDDEATH, n.bdSeq, src.Received)
		return nil, nil
	}
	return dev, nil
}

// checkSeq checks and advances the edge node's seq (0 to 255, wrapping):
// every message after NBIRTH carries the next one. A gap is reported
// once; the next message continues from the seq received.
func checkSeq(n *spNode, p *spPayload, kind string) error {
	if !p.hasSeq {
		return invalid(ReasonMissing, "%s without seq", kind)
	}
	want := (n.seq + 1) % 256
	n.seq = p.seq
	if p.seq != want {
		return invalid(ReasonSeqGap, "%s seq %d from edge node %q, want %d (messages lost or reordered)", kind, p.seq, n.key.node, want)
	}
	return nil
}

// nodeBirth reads an NBIRTH: the node's metrics, bdSeq and seq. Its
// devices must be born again (their births are no longer valid).
func (d *sparkplugDecoder) nodeBirth(s *spSession, n *spNode, src Source) (*spEntity, error) {
	p := &s.pay
	if err := checkBirth(p, "NBIRTH"); err != nil {
		return nil, err
	}
	bd, ok := bdSeqOf(p)
	if !ok {
		return nil, invalid(ReasonMissing, "NBIRTH without a bdSeq metric")
	}
	n.bdSeq, n.seq, n.born = bd, p.seq, true
	for _, dev := range n.devices {
		dev.born = false
		s.forgetDefs(dev)
	}
	s.define(&n.spEntity, p.metrics)
	s.presence(&n.spEntity, true, spNBIRTH, bd, src.Received)
	return &n.spEntity, nil
}

// nodeDeath reads an NDEATH: when its bdSeq is the current session's, the
// node and its devices go offline; an NDEATH of an earlier session (a
// late will message) is ignored.
func (d *sparkplugDecoder) nodeDeath(s *spSession, n *spNode, at time.Time) {
	if n == nil || !n.born {
		return
	}
	if bd, ok := bdSeqOf(&s.pay); ok && bd != n.bdSeq {
		return
	}
	n.born = false
	s.forgetDefs(&n.spEntity)
	s.presence(&n.spEntity, false, spNDEATH, n.bdSeq, at)
	for _, dev := range n.devices {
		dev.born = false
		s.forgetDefs(dev)
		s.presence(dev, false, spNDEATH, n.bdSeq, at)
	}
}

// deviceBirth reads a DBIRTH.
func (d *sparkplugDecoder) deviceBirth(s *spSession, n *spNode, t *spTopic, src Source) (*spEntity, error) {
	if err := checkBirth(&s.pay, "DBIRTH"); err != nil {
		return nil, err
	}
	dev := s.device(n, t.device, src.Device, true)
	dev.born = true
	s.define(dev, s.pay.metrics)
	s.presence(dev, true, spDBIRTH, n.bdSeq, src.Received)
	return dev, nil
}

// checkBirth checks that a birth defines each metric once, by a name of 1
// to MaxSensorName bytes, with a data type, and each alias once.
func checkBirth(p *spPayload, kind string) error {
	if !p.hasSeq {
		return invalid(ReasonMissing, "%s without seq", kind)
	}
	names := make(map[string]struct{}, len(p.metrics))
	aliases := make(map[uint64]struct{}, len(p.metrics))
	for i := range p.metrics {
		m := &p.metrics[i]
		switch {
		case !m.hasName || len(m.name) == 0:
			return invalid(ReasonMissing, "%s metrics[%d]: no name", kind, i)
		case len(m.name) > MaxSensorName:
			return invalid(ReasonTooLarge, "%s metrics[%d]: name of %d bytes, limit %d", kind, i, len(m.name), MaxSensorName)
		case !m.hasType:
			return invalid(ReasonMissing, "%s metric %q: no datatype", kind, m.name)
		}
		if _, dup := names[string(m.name)]; dup {
			return invalid(ReasonMalformedProto, "%s metric %q defined twice", kind, m.name)
		}
		names[string(m.name)] = struct{}{}
		if m.hasAlias {
			if _, dup := aliases[m.alias]; dup {
				return invalid(ReasonMalformedProto, "%s alias %d defined twice", kind, m.alias)
			}
			aliases[m.alias] = struct{}{}
		}
	}
	return nil
}

// bdSeqOf is the value of the payload's bdSeq metric.
func bdSeqOf(p *spPayload) (uint64, bool) {
	for i := range p.metrics {
		m := &p.metrics[i]
		if string(m.name) == "bdSeq" && (m.kind == spLongValue || m.kind == spIntValue) {
			return m.bits, true
		}
	}
	return 0, false
}

// spControl reports whether a metric is Sparkplug bookkeeping rather than
// a measurement: bdSeq and the Node Control/ and Device Control/ metrics.
func spControl(name string) bool {
	return name == "bdSeq" || strings.HasPrefix(name, "Node Control/") || strings.HasPrefix(name, "Device Control/")
}

// reading turns the payload's numeric metrics, resolved against e's
// birth, into one reading (none when it has no numeric metric) and
// validates it.
func (d *sparkplugDecoder) reading(dst []Reading, s *spSession, e *spEntity, src Source) ([]Reading, error) {
	p := &s.pay
	var values map[string]float64
	for i := range p.metrics {
		m := &p.metrics[i]
		def, err := e.defs.resolve(m)
		if err != nil {
			return nil, err
		}
		v, ok := m.value(def.datatype)
		if !ok || def.control {
			continue
		}
		if values == nil {
			values = src.valueMap()
		}
		values[def.name] = v
	}
	if values == nil {
		return dst, nil
	}
	if err := d.rules.admitDevice(src.Device); err != nil {
		return nil, err
	}
	// No DeviceSeq: seq counts the edge node's messages, not the device's
	// (checkSeq follows it); as a device counter it would read as loss.
	r := Reading{Device: src.Device, Fields: src.Fields, Received: src.Received, Time: src.Received, Values: values}
	if p.hasTimestamp {
		r.Time = time.UnixMilli(int64(p.timestamp))
	}
	if err := d.rules.reading(&r); err != nil {
		return nil, err
	}
	return append(dst, r), nil
}

// resolve finds a metric's definition by its alias (or its name); its
// data type is the metric's own when it carries one.
func (d *spDefs) resolve(m *spMetric) (spDef, error) {
	var def spDef
	var ok bool
	switch {
	case m.hasAlias && !m.hasName:
		if def, ok = d.byAlias[m.alias]; !ok {
			return def, invalid(ReasonUnknownAlias, "metric alias %d is not in the birth certificate", m.alias)
		}
	case m.hasName:
		if def, ok = d.byName[string(m.name)]; !ok {
			return def, invalid(ReasonUnknownAlias, "metric %q is not in the birth certificate", m.name)
		}
	default:
		return def, invalid(ReasonMalformedProto, "metric with neither name nor alias")
	}
	if m.hasType {
		def.datatype = m.datatype
	}
	return def, nil
}

// valueMap returns an empty map for a reading's values, lent by the
// Pipeline when it can.
func (src *Source) valueMap() map[string]float64 {
	if src.sc != nil {
		return src.sc.valueMap()
	}
	return make(map[string]float64, 8)
}
