package ingest

import (
	"fmt"
	"strings"
	"time"
)

// FormatSparkplugB is Eclipse Sparkplug B: Tahu protobuf payloads on
// spBv1.0/<group>/<message type>/<edge node>[/<device>] topics, with
// birth certificates and metric aliases (docs/formats/mqtt-payloads.md).
const FormatSparkplugB = "sparkplug_b"

// SparkplugConfig is the sparkplug block of a subscription with format
// sparkplug_b (mqtt.subscriptions[i].sparkplug). Zero values mean the
// documented defaults.
type SparkplugConfig struct {
	// Groups are the Sparkplug group ids subscribed to. Default ["+"]:
	// every group.
	Groups []string `yaml:"groups"`
	// EdgeNodes are the edge node ids subscribed to. Default ["+"]: every
	// edge node.
	EdgeNodes []string `yaml:"edge_nodes"`
	// DeviceID is the device id of a Sparkplug device's readings, from
	// {group}, {edge_node} and {device}. Default "{edge_node}/{device}".
	DeviceID string `yaml:"device_id"`
	// NodeID is the device id of an edge node's own metrics (NBIRTH,
	// NDATA), from {group} and {edge_node}. Default "{edge_node}".
	NodeID string `yaml:"node_id"`
	// Rebirth configures rebirth requests (NCMD Node Control/Rebirth).
	Rebirth RebirthConfig `yaml:"rebirth"`
}

// RebirthConfig configures the rebirth requests sent to an edge node whose
// data cannot be read (data before its birth, an unknown alias, a seq gap).
type RebirthConfig struct {
	// Enabled sends the requests. Default false: it writes to the plant's
	// Sparkplug namespace.
	Enabled bool `yaml:"enabled"`
	// MinInterval is the least time between two requests to one edge
	// node. Default 30s.
	MinInterval time.Duration `yaml:"min_interval"`
}

// setDefaults fills zero fields with their documented defaults.
func (c *SparkplugConfig) setDefaults() {
	if len(c.Groups) == 0 {
		c.Groups = []string{"+"}
	}
	if len(c.EdgeNodes) == 0 {
		c.EdgeNodes = []string{"+"}
	}
	if c.DeviceID == "" {
		c.DeviceID = "{edge_node}/{device}"
	}
	if c.NodeID == "" {
		c.NodeID = "{edge_node}"
	}
	if c.Rebirth.MinInterval == 0 {
		c.Rebirth.MinInterval = 30 * time.Second
	}
}

// validate names the first bad key under prefix
// (mqtt.subscriptions[i].sparkplug) and its value.
func (c *SparkplugConfig) validate(prefix string) error {
	for i, g := range c.Groups {
		if err := spIDOrPlus(g); err != nil {
			return fmt.Errorf("%s.groups[%d]: %q %w", prefix, i, g, err)
		}
	}
	for i, n := range c.EdgeNodes {
		if err := spIDOrPlus(n); err != nil {
			return fmt.Errorf("%s.edge_nodes[%d]: %q %w", prefix, i, n, err)
		}
	}
	if err := checkIDTemplate(c.DeviceID, true); err != nil {
		return fmt.Errorf("%s.device_id: %q: %w", prefix, c.DeviceID, err)
	}
	if err := checkIDTemplate(c.NodeID, false); err != nil {
		return fmt.Errorf("%s.node_id: %q: %w", prefix, c.NodeID, err)
	}
	if c.Rebirth.MinInterval < 0 {
		return fmt.Errorf("%s.rebirth.min_interval: must be >= 0, got %s", prefix, c.Rebirth.MinInterval)
	}
	return nil
}

// spIDOrPlus checks a group or edge node id of the config: "+" or one
// topic level without wildcards.
func spIDOrPlus(s string) error {
	switch {
	case s == "+":
		return nil
	case s == "":
		return fmt.Errorf("is empty (use \"+\" for every one)")
	case strings.ContainsAny(s, "/+#"):
		return fmt.Errorf("must be one topic level without / + # (or \"+\" alone)")
	}
	return nil
}

// checkIDTemplate checks a device id template: its placeholders are
// {group}, {edge_node} and, when withDevice, {device}, which it must
// contain; the rest is characters a device id may have (see checkDevice).
func checkIDTemplate(t string, withDevice bool) error {
	rest := t
	hasDevice := false
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			open = len(rest)
		}
		for i := 0; i < open; i++ {
			if !deviceChar(rest[i]) && rest[i] != '/' {
				return fmt.Errorf("character %q not allowed (letters, digits, - _ . : @ /)", rest[i])
			}
		}
		if open == len(rest) {
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return fmt.Errorf("unclosed {")
		}
		switch name := rest[open+1 : open+end]; {
		case name == "group" || name == "edge_node":
		case name == "device" && withDevice:
			hasDevice = true
		default:
			return fmt.Errorf("unknown placeholder {%s}", name)
		}
		rest = rest[open+end+1:]
	}
	if withDevice && !hasDevice {
		return fmt.Errorf("needs {device}")
	}
	if !withDevice && !strings.Contains(t, "{edge_node}") {
		return fmt.Errorf("needs {edge_node}")
	}
	return nil
}

// expandID fills a device id template for one topic.
func expandID(t, group, node, device string) string {
	r := strings.NewReplacer("{group}", group, "{edge_node}", node, "{device}", device)
	return r.Replace(t)
}

// validateSparkplug checks the sparkplug keys of a subscription (prefix
// is its key path): a sparkplug block only with format sparkplug_b, and no
// topic with it.
func (s *Subscription) validateSparkplug(prefix string) error {
	if s.Format != FormatSparkplugB {
		if s.Sparkplug != nil {
			return fmt.Errorf("%s.sparkplug: only for format %s, but format is %q", prefix, FormatSparkplugB, s.Format)
		}
		return nil
	}
	if s.Topic != "" {
		return fmt.Errorf("%s.topic: not used with format %s (its topics follow from sparkplug.groups and sparkplug.edge_nodes), got %q",
			prefix, FormatSparkplugB, s.Topic)
	}
	if s.Sparkplug == nil {
		return fmt.Errorf("%s.sparkplug: missing (defaults not applied)", prefix)
	}
	return s.Sparkplug.validate(prefix + ".sparkplug")
}
