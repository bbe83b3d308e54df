package config

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaPath = "../../docs/config.schema.json"

func loadSchemaDoc(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("schema is not valid JSON: %v", err)
	}
	return doc
}

// TestSchemaMatchesTypes walks Config by reflection beside the schema: every
// struct must be an object schema with additionalProperties false and
// exactly the struct's yaml field names as properties, so the two cannot
// drift apart.
func TestSchemaMatchesTypes(t *testing.T) {
	doc := loadSchemaDoc(t)
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", doc["$schema"])
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
	seen := map[reflect.Type]bool{}
	schemaWalk(t, resolve, seen, "", reflect.TypeFor[Config](), doc, false)
	if !seen[reflect.TypeFor[HeaderMatch]()] || !seen[reflect.TypeFor[HSTS]()] {
		t.Errorf("walk did not reach every type: %v", seen)
	}
}

// schemaWalk checks the schema s of typ at path: every struct an object
// schema with additionalProperties false and exactly its yaml field names
// as properties, every slice an array. With skipCustom, a type that
// decodes itself (yaml.Unmarshaler) is not walked: its schema is its own.
func schemaWalk(t *testing.T, resolve func(map[string]any) map[string]any, seen map[reflect.Type]bool, path string, typ reflect.Type, s map[string]any, skipCustom bool) {
	var walk func(path string, typ reflect.Type, s map[string]any)
	walk = func(path string, typ reflect.Type, s map[string]any) {
		s = resolve(s)
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if skipCustom && (typ == nodeType || reflect.PointerTo(typ).Implements(unmarshalerType)) {
			return
		}
		switch {
		case typ == reflect.TypeFor[PolicySpec]():
			if s["additionalProperties"] != true || !slices.Contains(anySlice(s["required"]), "kind") {
				t.Errorf("%s: policy schema must require kind and allow other properties", path)
			}
			return
		case typ.Kind() == reflect.Slice:
			items, ok := s["items"].(map[string]any)
			if s["type"] != "array" || !ok {
				t.Errorf("%s: want an array schema with items", path)
				return
			}
			walk(path+"[]", typ.Elem(), items)
			return
		case typ.Kind() != reflect.Struct:
			return
		}
		if seen[typ] {
			return
		}
		seen[typ] = true
		if s["type"] != "object" || s["additionalProperties"] != false {
			t.Errorf("%s: want an object schema with additionalProperties false", path)
		}
		props, _ := s["properties"].(map[string]any)
		fields := fieldsOf(typ)
		want := append([]string(nil), fields.names...)
		got := make([]string, 0, len(props))
		for k := range props {
			got = append(got, k)
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(want, got) {
			t.Errorf("%s (%s): schema properties %v, Go yaml fields %v", path, typ, got, want)
		}
		for _, name := range fields.names {
			if p, ok := props[name].(map[string]any); ok {
				walk(joinPath(path, name), typ.FieldByIndex(fields.byName[name]).Type, p)
			}
		}
	}
	walk(path, typ, s)
}

func anySlice(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestSchemaValidatesExamples compiles the schema (which checks it against
// the draft 2020-12 meta-schema) and runs it on the complete example and on
// documents it must reject.
func TestSchemaValidatesExamples(t *testing.T) {
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	instance := func(src string) any {
		var v any
		if err := yaml.Unmarshal([]byte(src), &v); err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"full":    string(full),
		"minimal": minimal,
		"secrets": withService("        weight: ${env:W}\n    timeouts: {connect: \"${file:/run/t}\"}\n"),
		"auth secrets": withConsumers("  - name: a\n    credentials:\n      jwt: [{key: k, algorithm: \"${env:ALG}\", secret: \"${env:S}\"}]\n" +
			"      basic: [{username: u, password_hash: \"${file:/run/h}\"}]\n      api_keys: [{id: k, hash: \"${env:H}\", not_after: \"${env:T}\"}]\n"),
		"mtls":   withConsumers("  - name: a\n    credentials: {mtls: [{fingerprint_sha256: " + fpPlain + "}, {fingerprint_sha256: \"" + fpColon + "\"}, {san: x}]}\n"),
		"argon2": withConsumers("  - name: a\n    credentials: {basic: [{username: u, password_hash: \"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\"}]}\n"),
	} {
		if err := sch.Validate(instance(src)); err != nil {
			t.Errorf("%s: schema rejects a valid config: %v", name, err)
		}
	}
	for name, src := range map[string]string{
		"unknown field":   minimal + "acces_log: {}\n",
		"nested unknown":  withService("        wieght: 2\n"),
		"bad duration":    withListener("    read_timeout: 10\n"),
		"bad size":        withRoute("    max_body_size: 12XB\n"),
		"bad algorithm":   withService("    load_balancing: {algorithm: random}\n"),
		"two path kinds":  withPath("      - {exact: /a, prefix: /b}\n"),
		"policy no kind":  withRoute("    policies: [{issuer: x}]\n"),
		"bad version":     strings.Replace(minimal, "version: 1", "version: 2", 1),
		"jwt algorithm":   withConsumers("  - name: a\n    credentials: {jwt: [{key: k, algorithm: none, secret: s}]}\n"),
		"hmac with pem":   withConsumers("  - name: a\n    credentials: {jwt: [{key: k, algorithm: HS256, secret: s, public_key: p}]}\n"),
		"rsa with secret": withConsumers("  - name: a\n    credentials: {jwt: [{key: k, algorithm: RS256, secret: s}]}\n"),
		"key hash":        withConsumers("  - name: a\n    credentials: {api_keys: [{id: k, hash: plain-key}]}\n"),
		"key expiry":      withConsumers("  - name: a\n    credentials: {api_keys: [{id: k, hash: " + hash1 + ", expires_at: tomorrow}]}\n"),
		"plain password":  withConsumers("  - name: a\n    credentials: {basic: [{username: u, password_hash: hunter2}]}\n"),
		"two mtls kinds":  withConsumers("  - name: a\n    credentials: {mtls: [{subject: CN=a, san: a.example}]}\n"),
		"fingerprint":     withConsumers("  - name: a\n    credentials: {mtls: [{fingerprint_sha256: abc}]}\n"),
		"group comma":     withConsumers("  - name: a\n    groups: [\"a,b\"]\n"),
		"consumer field":  withConsumers("  - name: a\n    credential: {}\n"),
		"header name":     minimal + "identity_headers: {consumer: \"X Who\"}\n",
		"route auth":      withRoute("    auth: jwt\n"),
		"client auth":     withListener("    tls:\n      certificates: [{cert_file: a, key_file: b}]\n      client_auth: {mode: optional, ca_file: c}\n"),
		"client auth ca":  withListener("    tls:\n      certificates: [{cert_file: a, key_file: b}]\n      client_auth: {mode: require}\n"),
	} {
		if err := sch.Validate(instance(src)); err == nil {
			t.Errorf("%s: schema accepts an invalid config", name)
		}
	}
}
