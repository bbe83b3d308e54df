package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// jsonSchema is a compiled JSON Schema.
type jsonSchema struct{ s *jsonschema.Schema }

// compileJSONSchema compiles the json_schema value: {file: path} or an
// inline schema written in YAML. Only local files are ever loaded (no
// network fetch of $ref targets).
func compileJSONSchema(n *yaml.Node) (*jsonSchema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(jsonschema.FileLoader{})
	var loc string
	if file, ok := schemaFile(n); ok {
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		loc = abs
	} else {
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("not a schema: %w", err)
		}
		if _, ok := v.(map[string]any); !ok {
			if _, isBool := v.(bool); !isBool {
				return nil, fmt.Errorf("must be a mapping (an inline schema, or file: path)")
			}
		}
		js, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("the inline schema is not JSON-compatible: %w", err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			return nil, fmt.Errorf("the inline schema is not JSON-compatible: %w", err)
		}
		loc = "urn:portcullis:inline-schema"
		if err := c.AddResource(loc, doc); err != nil {
			return nil, fmt.Errorf("invalid schema: %w", err)
		}
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("invalid schema: %w", err)
	}
	return &jsonSchema{s}, nil
}

// schemaFile recognizes {file: path}: a mapping with the single key file.
func schemaFile(n *yaml.Node) (string, bool) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 || n.Content[0].Value != "file" || n.Content[1].Kind != yaml.ScalarNode {
		return "", false
	}
	return n.Content[1].Value, true
}

// validate checks a well-formed JSON body. On failure it returns the
// JSON pointer of a failing location, cut at the first token that is not
// a plain name or index so that no odd client-chosen key is echoed.
func (s *jsonSchema) validate(body []byte) (string, bool) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return "", false
	}
	err = s.s.Validate(inst)
	if err == nil {
		return "", true
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "", false
	}
	return failingPointer(ve), false
}

// maxPointerTokens bounds the reported pointer's depth.
const maxPointerTokens = 32

// failingPointer picks, among the leaf errors, the deepest location, and
// of equally deep ones the smallest pointer, so the answer does not depend
// on map iteration order.
func failingPointer(ve *jsonschema.ValidationError) string {
	best, bestDepth := "", -1
	visited := 0
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if visited++; visited > 1000 {
			return
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr, depth := safePointer(e.InstanceLocation)
		if depth > bestDepth || depth == bestDepth && ptr < best {
			best, bestDepth = ptr, depth
		}
	}
	walk(ve)
	return best
}

// safePointer renders tokens as a JSON pointer, stopping before the first
// token that is not [A-Za-z0-9_.-]{1,64}.
func safePointer(tokens []string) (string, int) {
	var b strings.Builder
	n := 0
	for _, t := range tokens {
		if n == maxPointerTokens || !safeToken(t) {
			break
		}
		b.WriteByte('/')
		b.WriteString(t)
		n++
	}
	return b.String(), n
}

func safeToken(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
