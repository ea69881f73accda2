package edge

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// envRef matches what expandEnv replaces: $${ (a literal "${") or
// ${NAME}.
var envRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ErrUnsetVariable is wrapped by the error of a config file that refers to
// an environment variable that is not set.
var ErrUnsetVariable = fmt.Errorf("environment variable not set")

// expandEnv replaces ${NAME} in every value of the config file with the
// variable's value, as Telegraf does: any key, any part of a value
// (url: tcp://${MQTT_HOST}:1883). $${ is a literal "${". A variable that is
// not set is an error naming it, its key and its line; one set to "" expands
// to "". Comments and keys are left alone. A plain (unquoted) value is typed
// after expansion, so max_bytes: ${BUFFER_BYTES} is a number.
func expandEnv(root *yaml.Node, lookup func(string) (string, bool)) error {
	var err error
	walkYAML(root, "", func(path string, _, v *yaml.Node) bool {
		if v.Kind != yaml.ScalarNode || !strings.Contains(v.Value, "${") {
			return false
		}
		out, e := expandValue(v.Value, lookup)
		if e != nil {
			err = fmt.Errorf("%s: %w (line %d)", path, e, v.Line)
			return true
		}
		v.Value = out
		if v.Style == 0 && !nullWord[out] {
			v.Tag = "" // a plain value is typed again from the expanded text
		}
		return false
	})
	return err
}

// nullWord lists the plain values YAML reads as null: an expanded value
// that happens to be one of them stays the string it is.
var nullWord = map[string]bool{"null": true, "Null": true, "NULL": true, "~": true}

// expandValue expands one value.
func expandValue(s string, lookup func(string) (string, bool)) (string, error) {
	var missing string
	out := envRef.ReplaceAllStringFunc(s, func(ref string) string {
		if ref == "$${" {
			return "${"
		}
		name := ref[2 : len(ref)-1]
		v, ok := lookup(name)
		if !ok && missing == "" {
			missing = name
		}
		return v
	})
	if missing != "" {
		return "", fmt.Errorf("${%s}: %w (set it, or write $${ for a literal ${)", missing, ErrUnsetVariable)
	}
	return out, nil
}
