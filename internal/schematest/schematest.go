package schematest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Set is the compiled schemas: one per record value and one per event type.
type Set struct {
	values map[string]*jsonschema.Schema // stream -> value schema
	events map[string]*jsonschema.Schema // event type -> schema
	files  map[string]*jsonschema.Schema // every schema by its file (relative to dir)
}

// streamSchemas maps buffer streams (topic suffixes) to their value schema.
var streamSchemas = map[string]string{
	"readings":    "reading.schema.json",
	"predictions": "prediction.schema.json",
	"alerts":      "alert.schema.json",
	"deadletter":  "deadletter.schema.json",
	"gateways":    "gateways.schema.json",
	"labels":      "label.schema.json", // written by a maintenance system, read by edgepm-train
}

// Load compiles every schema under dir (docs/schemas). Each file is
// registered under its $id, so the schemas' relative $refs resolve without
// any network access.
func Load(dir string) (*Set, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	ids := map[string]string{} // path relative to dir -> $id
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".schema.json") {
			return err
		}
		id, doc, err := readSchema(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		ids[filepath.ToSlash(rel)] = id
		return c.AddResource(id, doc)
	})
	if err != nil {
		return nil, fmt.Errorf("load schemas %s: %w", dir, err)
	}
	s := &Set{values: map[string]*jsonschema.Schema{}, events: map[string]*jsonschema.Schema{}, files: map[string]*jsonschema.Schema{}}
	for rel, id := range ids {
		sch, err := c.Compile(id)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", rel, err)
		}
		s.files[rel] = sch
		if typ, ok := strings.CutPrefix(rel, "events/"); ok {
			s.events[strings.TrimSuffix(typ, ".schema.json")] = sch
			continue
		}
		for stream, file := range streamSchemas {
			if rel == file {
				s.values[stream] = sch
			}
		}
	}
	if len(s.values) != len(streamSchemas) {
		return nil, fmt.Errorf("load schemas %s: %d of the %d value schemas found", dir, len(s.values), len(streamSchemas))
	}
	return s, nil
}

func readSchema(path string) (string, any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	m, _ := doc.(map[string]any)
	id, _ := m["$id"].(string)
	if id == "" {
		return "", nil, fmt.Errorf("%s: no $id", path)
	}
	return id, doc, nil
}

// ErrNoSchema is returned for a stream or event type no schema covers.
var ErrNoSchema = errors.New("no schema")

// Validate checks a record value of stream (readings, predictions, alerts,
// deadletter, events) against its schema; an event against the envelope and
// its type's schema.
func (s *Set) Validate(stream string, value []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("%s value is not JSON: %w", stream, err)
	}
	sch := s.values[stream]
	if stream == "events" {
		var head struct{ Type string }
		_ = json.Unmarshal(value, &head)
		if sch = s.events[head.Type]; sch == nil {
			return fmt.Errorf("event type %q: %w", head.Type, ErrNoSchema)
		}
	}
	if sch == nil {
		return fmt.Errorf("stream %q: %w", stream, ErrNoSchema)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s value %s: %w", stream, value, err)
	}
	return nil
}

// EventTypes returns the event types that have a schema.
func (s *Set) EventTypes() []string {
	out := make([]string, 0, len(s.events))
	for t := range s.events {
		out = append(out, t)
	}
	return out
}

// ValidateDoc checks a document other than a record value (for example the
// /api/status response) against the schema in file (relative to the
// schemas folder, e.g. "status.schema.json").
func (s *Set) ValidateDoc(file string, doc []byte) error {
	sch := s.files[file]
	if sch == nil {
		return fmt.Errorf("%s: %w", file, ErrNoSchema)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("%s document is not JSON: %w", file, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}
