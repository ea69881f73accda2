package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decodeYAML reads a config file's YAML into cfg: ${VAR} references in
// values are expanded from the environment (lookup), unknown keys are
// errors, and every error names the YAML path and line in the user's terms
// ("buffer.max_byts: unknown key (line 3)"), never a Go type.
func decodeYAML(data []byte, cfg *Config, lookup func(string) (string, bool)) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("parse: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil // only comments
	}
	if err := expandEnv(&root, lookup); err != nil {
		return err
	}
	expanded, err := yaml.Marshal(&root)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	// yaml.v3 checks unknown keys only when decoding bytes, so the
	// expanded tree is written out and decoded again; errors are mapped
	// back to paths on that text and to lines of the original.
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	err = dec.Decode(cfg)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("parse: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var again yaml.Node
	_ = yaml.Unmarshal(expanded, &again)
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		msgs = append(msgs, describeYAMLError(e, &again, &root))
	}
	return errors.New(strings.Join(msgs, "; "))
}

var (
	yamlUnknownKey = regexp.MustCompile("^line (\\d+): field (.+) not found in type .+$")
	yamlBadValue   = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// describeYAMLError rewrites one of yaml.v3's decode errors (its lines are
// those of the expanded text) as "path: problem (line N)" with the line of
// the original file.
func describeYAMLError(msg string, expanded, orig *yaml.Node) string {
	if m := yamlUnknownKey.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		path := findPath(expanded, func(key, _ *yaml.Node) bool { return key != nil && key.Line == line && key.Value == m[2] })
		return fmt.Sprintf("%s: unknown key%s", orDefault(path, m[2]), lineOf(orig, path))
	}
	if m := yamlBadValue.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		kind := map[string]yaml.Kind{"map": yaml.MappingNode, "seq": yaml.SequenceNode}[m[2]]
		var path string // the last match: in flow style several values start on one line
		walkYAML(expanded, "", func(p string, _, v *yaml.Node) bool {
			if v.Line == line && ((m[3] != "" && v.Kind == yaml.ScalarNode && v.Value == m[3]) || (m[3] == "" && v.Kind == kind)) {
				path = p
			}
			return false
		})
		got := "a " + map[string]string{"map": "mapping", "seq": "list"}[m[2]]
		if m[3] != "" {
			got = strconv.Quote(m[3])
		}
		return fmt.Sprintf("%s: must be %s, got %s%s", orDefault(path, "value"), wantKind(m[4]), got, lineOf(orig, path))
	}
	return strings.TrimPrefix(msg, "yaml: ")
}

// wantKind names what a Go type takes, in YAML terms.
func wantKind(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration such as 30s or 5m"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	}
	return "a mapping of keys" // a struct
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// lineOf returns " (line N)" for path in the original file, or "".
func lineOf(orig *yaml.Node, path string) string {
	if path == "" {
		return ""
	}
	line := 0
	walkYAML(orig, "", func(p string, key, v *yaml.Node) bool {
		if p == path {
			line = v.Line
			if key != nil {
				line = key.Line
			}
			return true
		}
		return false
	})
	if line == 0 {
		return ""
	}
	return fmt.Sprintf(" (line %d)", line)
}

// findPath returns the path of the first node (in document order) for
// which match holds; key is nil for list items.
func findPath(root *yaml.Node, match func(key, v *yaml.Node) bool) string {
	var found string
	walkYAML(root, "", func(p string, key, v *yaml.Node) bool {
		if match(key, v) {
			found = p
			return true
		}
		return false
	})
	return found
}

// walkYAML calls fn for every node below n with its path
// (buffer.max_bytes, mqtt.subscriptions[0].topic) until fn returns true.
func walkYAML(n *yaml.Node, path string, fn func(path string, key, v *yaml.Node) bool) bool {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if walkYAML(c, path, fn) {
				return true
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if fn(p, k, v) || walkYAML(v, p, fn) {
				return true
			}
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if fn(p, nil, v) || walkYAML(v, p, fn) {
				return true
			}
		}
	}
	return false
}
