package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
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

// TestDocsPromiseOnlyWhatExists: what docs/*.md and the README name
// exists in the repository: every relative link resolves, every test,
// fuzz target and benchmark they cite is defined, every policy kind of
// their examples is registered, every portcullis_* metric is defined, and
// every `portcullis <command>` they show is a command of the binary.
func TestDocsPromiseOnlyWhatExists(t *testing.T) {
	var src strings.Builder // every Go file of the module
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			src.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code := src.String()
	docs, _ := filepath.Glob("../../docs/*.md")
	docs = append(docs, "../../README.md")
	linkRE := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	testRE := regexp.MustCompile(`\b((?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]+)`)
	kindRE := regexp.MustCompile(`kind: ([a-z_]+)`)
	metricRE := regexp.MustCompile(`\bportcullis_([a-z_]+)`)
	cmdRE := regexp.MustCompile("`portcullis ([a-z][a-z-]+)")
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text, name := string(b), filepath.Base(doc)
		for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
			if strings.Contains(m[1], "://") || strings.HasPrefix(m[1], "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(doc), m[1])); err != nil {
				t.Errorf("%s: broken link %s", name, m[1])
			}
		}
		for _, m := range testRE.FindAllStringSubmatch(text, -1) {
			if !strings.Contains(code, "func "+m[1]+"(") {
				t.Errorf("%s: cites %s, which no test file defines", name, m[1])
			}
		}
		for _, m := range kindRE.FindAllStringSubmatch(text, -1) {
			if !strings.Contains(code, `Register("`+m[1]+`"`) {
				t.Errorf("%s: an example uses the policy kind %q, which is not registered", name, m[1])
			}
		}
		for _, m := range metricRE.FindAllStringSubmatch(text, -1) {
			base := m[1]
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				base = strings.TrimSuffix(base, suf)
			}
			if !strings.Contains(code, `"`+base+`"`) && !strings.Contains(code, `"portcullis_`+base+`"`) {
				t.Errorf("%s: names the metric portcullis_%s, which is not defined", name, m[1])
			}
		}
		for _, m := range cmdRE.FindAllStringSubmatch(text, -1) {
			if !strings.Contains(code, `case "`+m[1]+`"`) && !strings.Contains(code, `, "`+m[1]+`"`) {
				t.Errorf("%s: shows `portcullis %s`, which is not a command", name, m[1])
			}
		}
	}
}
