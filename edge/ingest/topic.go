package ingest

import (
	"fmt"
	"strings"
)

// TopicTemplate maps MQTT topic levels to fields, e.g.
// "plant/{site}/{line}/{device}/telemetry". A level "{name}" captures that
// level into the field name; any other level must match literally. The
// template's MQTT subscription replaces each capture with "+".
//
// The field "device" is required: it is the record key and the unit of
// ordering. A TopicTemplate is immutable and safe for concurrent use.
type TopicTemplate struct {
	raw    string
	levels []templateLevel
	device int // index of the {device} level

	sp *spTopics // a sparkplug_b subscription's topics, instead of levels
}

type templateLevel struct {
	literal string // when field == ""
	field   string
}

// ParseTopicTemplate parses and checks a template.
func ParseTopicTemplate(s string) (*TopicTemplate, error) {
	if s == "" {
		return nil, fmt.Errorf("topic template: empty")
	}
	parts := strings.Split(s, "/")
	t := &TopicTemplate{raw: s, device: -1, levels: make([]templateLevel, len(parts))}
	seen := map[string]bool{}
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") && len(p) > 2:
			name := p[1 : len(p)-1]
			if !validFieldName(name) {
				return nil, fmt.Errorf("topic template %q: bad field name %q (use letters, digits, _)", s, name)
			}
			if seen[name] {
				return nil, fmt.Errorf("topic template %q: field %q appears twice", s, name)
			}
			seen[name] = true
			t.levels[i] = templateLevel{field: name}
			if name == "device" {
				t.device = i
			}
		case strings.ContainsAny(p, "{}+#"):
			return nil, fmt.Errorf("topic template %q: level %q: wildcards and braces are only allowed as a whole {field}", s, p)
		default:
			t.levels[i] = templateLevel{literal: p}
		}
	}
	if t.device < 0 {
		return nil, fmt.Errorf("topic template %q: needs a {device} level", s)
	}
	return t, nil
}

func validFieldName(s string) bool {
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// captures reports whether the template captures a level named field.
func (t *TopicTemplate) captures(field string) bool {
	for _, l := range t.levels {
		if l.field == field {
			return true
		}
	}
	return false
}

// String returns the template as written.
func (t *TopicTemplate) String() string { return t.raw }

// filters returns the MQTT subscription filters: Filter, or a
// sparkplug_b subscription's filters.
func (t *TopicTemplate) filters() []string {
	if t.sp != nil {
		return t.sp.filters()
	}
	return []string{t.Filter()}
}

// Filter returns the MQTT subscription filter, captures replaced by "+"
// (of a sparkplug_b subscription: the first of its filters).
func (t *TopicTemplate) Filter() string {
	if t.sp != nil {
		return t.sp.filters()[0]
	}
	parts := make([]string, len(t.levels))
	for i, l := range t.levels {
		if l.field != "" {
			parts[i] = "+"
		} else {
			parts[i] = l.literal
		}
	}
	return strings.Join(parts, "/")
}

// fits reports whether topic has the template's levels and literals (what
// its subscription filter matches), without allocating.
func (t *TopicTemplate) fits(topic string) bool {
	if t.sp != nil {
		return t.sp.fits(topic)
	}
	rest := topic
	for i, l := range t.levels {
		level := rest
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			if i == len(t.levels)-1 {
				return false
			}
			level, rest = rest[:j], rest[j+1:]
		} else if i != len(t.levels)-1 {
			return false
		}
		if l.field == "" && level != l.literal {
			return false
		}
	}
	return true
}

// Match matches a concrete topic against the template and returns the device
// id and the other captured fields (nil when there are none besides device).
// ok is false when the topic does not fit or a captured level is empty.
func (t *TopicTemplate) Match(topic string) (device string, fields map[string]string, ok bool) {
	if t.sp != nil {
		return t.sp.match(topic)
	}
	rest := topic
	for i, l := range t.levels {
		var level string
		if i == len(t.levels)-1 {
			if strings.IndexByte(rest, '/') >= 0 {
				return "", nil, false
			}
			level = rest
		} else {
			j := strings.IndexByte(rest, '/')
			if j < 0 {
				return "", nil, false
			}
			level, rest = rest[:j], rest[j+1:]
		}
		if l.field == "" {
			if level != l.literal {
				return "", nil, false
			}
			continue
		}
		if level == "" {
			return "", nil, false
		}
		if i == t.device {
			device = level
			continue
		}
		if fields == nil {
			fields = make(map[string]string, len(t.levels))
		}
		fields[l.field] = level
	}
	return device, fields, true
}

// Expand fills a template with fields (used for alert topics such as
// "plant/{site}/{line}/{device}/alerts"). A missing field expands to "_".
func Expand(template string, fields map[string]string) string {
	var b strings.Builder
	for i, p := range strings.Split(template, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") && len(p) > 2 {
			v := fields[p[1:len(p)-1]]
			if v == "" {
				v = "_"
			}
			b.WriteString(v)
			continue
		}
		b.WriteString(p)
	}
	return b.String()
}
