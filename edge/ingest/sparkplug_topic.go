package ingest

import "strings"

// spNamespace is the first topic level of Sparkplug B.
const spNamespace = "spBv1.0"

// Sparkplug B message types (the third topic level).
const (
	spNBIRTH = "NBIRTH"
	spNDEATH = "NDEATH"
	spNDATA  = "NDATA"
	spNCMD   = "NCMD"
	spDBIRTH = "DBIRTH"
	spDDEATH = "DDEATH"
	spDDATA  = "DDATA"
	spDCMD   = "DCMD"
)

// spTopics is the topic side of a sparkplug_b subscription: its filters
// and how a topic maps to a device id. Immutable.
type spTopics struct {
	groups, nodes    []string // "+" matches any
	deviceID, nodeID string   // id templates (SparkplugConfig)
}

// sparkplugTemplate is the TopicTemplate of a sparkplug_b subscription
// (cfg with defaults applied): it subscribes
// spBv1.0/<group>/+/<edge node>/# for each configured group and edge node.
func sparkplugTemplate(cfg *SparkplugConfig) *TopicTemplate {
	sp := &spTopics{groups: cfg.Groups, nodes: cfg.EdgeNodes, deviceID: cfg.DeviceID, nodeID: cfg.NodeID}
	return &TopicTemplate{raw: strings.Join(sp.filters(), " "), sp: sp}
}

// checkDevice checks a device id the template matched (checkDevice; a
// sparkplug_b id may contain the / of its device_id template).
func (t *TopicTemplate) checkDevice(device string) error {
	return checkDeviceID(device, t.sp != nil)
}

func (s *spTopics) filters() []string {
	var out []string
	for _, g := range s.groups {
		for _, n := range s.nodes {
			out = append(out, spNamespace+"/"+g+"/+/"+n+"/#")
		}
	}
	return out
}

// spTopic is a Sparkplug topic split into its levels; device is "" for
// edge node topics. Its strings alias the topic.
type spTopic struct {
	group, kind, node, device string
}

// parseSpTopic splits spBv1.0/<group>/<type>/<edge node>[/<device>].
func parseSpTopic(topic string) (spTopic, bool) {
	var t spTopic
	rest, ok := strings.CutPrefix(topic, spNamespace+"/")
	if !ok {
		return t, false
	}
	var levels [4]string
	n := 0
	for n < 4 {
		level, after, more := strings.Cut(rest, "/")
		levels[n] = level
		n++
		rest = after
		if !more {
			break
		}
		if n == 4 {
			return t, false // more than five levels
		}
	}
	if n < 3 || levels[0] == "" || levels[1] == "" || levels[2] == "" || (n == 4 && levels[3] == "") {
		return t, false
	}
	t = spTopic{group: levels[0], kind: levels[1], node: levels[2], device: levels[3]}
	return t, true
}

// fits reports whether topic is a Sparkplug topic of a configured group
// and edge node.
func (s *spTopics) fits(topic string) bool {
	t, ok := parseSpTopic(topic)
	return ok && oneOf(s.groups, t.group) && oneOf(s.nodes, t.node)
}

func oneOf(list []string, v string) bool {
	for _, x := range list {
		if x == "+" || x == v {
			return true
		}
	}
	return false
}

// match returns the device id of a topic (the node id for edge node
// topics) and its fields group and edge_node.
func (s *spTopics) match(topic string) (device string, fields map[string]string, ok bool) {
	t, ok := parseSpTopic(topic)
	if !ok || !oneOf(s.groups, t.group) || !oneOf(s.nodes, t.node) {
		return "", nil, false
	}
	fields = map[string]string{"group": t.group, "edge_node": t.node}
	if t.device == "" {
		return expandID(s.nodeID, t.group, t.node, ""), fields, true
	}
	return expandID(s.deviceID, t.group, t.node, t.device), fields, true
}
