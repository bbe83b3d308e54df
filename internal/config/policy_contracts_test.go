package config_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/internal/config"
	_ "github.com/portcullis/portcullis/internal/gateway" // registers every policy kind
	"github.com/portcullis/portcullis/internal/pipeline"
)

// The policy kinds declare their config types (pipeline.Register); these
// tests hold docs/config.schema.json and docs/*.md to those types as
// schema_test.go and docs_test.go hold them to Config.

var dumpPolicySchemas = flag.String("dump-policy-schemas", "", "write the policy kinds' schemas, generated from their config types, to this file (a starting point for editing docs/config.schema.json)")

func schemaDoc(t *testing.T) (map[string]any, func(map[string]any) map[string]any) {
	t.Helper()
	b, err := os.ReadFile("../../docs/config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	defs, _ := doc["$defs"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		for {
			ref, ok := s["$ref"].(string)
			if !ok {
				return s
			}
			next, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			if !ok {
				t.Fatalf("unresolvable $ref %s", ref)
			}
			s = next
		}
	}
	return doc, resolve
}

// TestPolicyKindSchemas: every registered policy kind has a schema,
// $defs/policy_<kind>, with exactly its config type's fields (and kind),
// nested types included; the policy schema applies it to entries of that
// kind.
func TestPolicyKindSchemas(t *testing.T) {
	kinds := pipeline.Kinds()
	if len(kinds) < 19 {
		t.Fatalf("only %d policy kinds registered: %v", len(kinds), kinds)
	}
	if *dumpPolicySchemas != "" {
		out := map[string]any{}
		for _, k := range kinds {
			out["policy_"+k] = kindSchema(k, pipeline.ConfigType(k))
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(*dumpPolicySchemas, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc, resolve := schemaDoc(t)
	defs := doc["$defs"].(map[string]any)
	applied := map[string]bool{}
	for _, c := range anyList(defs["policy"].(map[string]any)["allOf"]) {
		cond, _ := c.(map[string]any)
		k, _ := dig(cond, "if", "properties", "kind", "const").(string)
		if ref, _ := dig(cond, "then", "$ref").(string); ref == "#/$defs/policy_"+k {
			applied[k] = true
		}
	}
	for _, k := range kinds {
		def, ok := defs["policy_"+k].(map[string]any)
		if !ok {
			t.Errorf("%s: no $defs/policy_%s in the schema", k, k)
			continue
		}
		if !applied[k] {
			t.Errorf("%s: $defs/policy does not apply policy_%s to kind %s", k, k, k)
		}
		props, _ := def["properties"].(map[string]any)
		if kp, _ := props["kind"].(map[string]any); kp["const"] != k {
			t.Errorf("%s: properties.kind must be the const %q", k, k)
		}
		rest := map[string]any{}
		for n, v := range def {
			rest[n] = v
		}
		fields := map[string]any{}
		for n, v := range props {
			if n != "kind" {
				fields[n] = v
			}
		}
		rest["properties"] = fields
		config.SchemaWalk(t, resolve, "policy_"+k, pipeline.ConfigType(k), rest)
	}
}

// TestPolicyKindsDocumented: every field of every policy kind's config
// type (nested ones too) is named in docs/*.md, as `name` or `parent.name`.
func TestPolicyKindsDocumented(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs: %v", err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	doc := all.String()
	for _, k := range pipeline.Kinds() {
		if !strings.Contains(doc, "kind: "+k) && !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("policy kind %s is not documented", k)
		}
		seen := map[reflect.Type]bool{}
		var walk func(typ reflect.Type)
		walk = func(typ reflect.Type) {
			for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
				typ = typ.Elem()
			}
			if typ.Kind() != reflect.Struct || seen[typ] || custom(typ) {
				return
			}
			seen[typ] = true
			names, types := config.YAMLFields(typ)
			for _, n := range names {
				if !strings.Contains(doc, "`"+n+"`") && !strings.Contains(doc, "."+n+"`") && !strings.Contains(doc, n+":") {
					t.Errorf("docs do not document field %s of policy kind %s (%s)", n, k, typ)
				}
				walk(types[n])
			}
		}
		walk(pipeline.ConfigType(k))
	}
}

var unmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// custom reports a type that decodes itself (or is a raw node): its
// schema and docs are its own, not a struct's fields.
func custom(typ reflect.Type) bool {
	return typ == reflect.TypeFor[yaml.Node]() || reflect.PointerTo(typ).Implements(unmarshaler)
}

// kindSchema generates a schema from a kind's config type (the dump).
func kindSchema(kind string, typ reflect.Type) map[string]any {
	s := typeSchema(typ, map[reflect.Type]bool{})
	props := s["properties"].(map[string]any)
	props["kind"] = map[string]any{"const": kind}
	return s
}

func typeSchema(typ reflect.Type, active map[reflect.Type]bool) map[string]any {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch {
	case typ == reflect.TypeFor[config.Duration]():
		return map[string]any{"$ref": "#/$defs/duration"}
	case typ == reflect.TypeFor[config.Size]():
		return map[string]any{"$ref": "#/$defs/size"}
	case custom(typ), typ.Kind() == reflect.Interface, active[typ]:
		return map[string]any{}
	}
	switch typ.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"$ref": "#/$defs/bool"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"anyOf": []any{map[string]any{"type": "integer"}, map[string]any{"$ref": "#/$defs/secretRef"}}}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"anyOf": []any{map[string]any{"type": "number"}, map[string]any{"$ref": "#/$defs/secretRef"}}}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": typeSchema(typ.Elem(), active)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSchema(typ.Elem(), active)}
	case reflect.Struct:
		active[typ] = true
		defer delete(active, typ)
		props := map[string]any{}
		names, types := config.YAMLFields(typ)
		for _, n := range names {
			props[n] = typeSchema(types[n], active)
		}
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	}
	return map[string]any{}
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
