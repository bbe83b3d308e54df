package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestDocsCoverEveryField keeps docs/configuration.md in step with the
// types: every yaml field name is documented (as `name` or `parent.name`),
// and the complete example is testdata/full.yaml, which TestLoadFullConfig
// loads.
func TestDocsCoverEveryField(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ == reflect.TypeFor[PolicySpec]() {
			return
		}
		seen[typ] = true
		fields := fieldsOf(typ)
		for _, name := range fields.names {
			if !strings.Contains(doc, "`"+name+"`") && !strings.Contains(doc, "."+name+"`") {
				t.Errorf("docs/configuration.md does not document %s.%s", typ.Name(), name)
			}
			walk(typ.FieldByIndex(fields.byName[name]).Type)
		}
	}
	walk(reflect.TypeFor[Config]())

	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, "```yaml\n"+string(full)+"```") {
		t.Errorf("the complete example in docs/configuration.md differs from testdata/full.yaml")
	}
}
