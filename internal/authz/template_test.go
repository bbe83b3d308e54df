package authz

import (
	"maps"
	"strings"
	"testing"
)

func TestTemplateMatch(t *testing.T) {
	tm, err := parseTemplate("/v1/accounts/{id}/items/{item_2}")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]map[string]string{
		"/v1/accounts/42/items/a%20b": {"id": "42", "item_2": "a%20b"},
		"/v1/accounts/42/items/":      nil, // an empty segment is no value
		"/v1/accounts//items/x":       nil,
		"/v1/accounts/42/items":       nil,
		"/v1/accounts/42/items/x/y":   nil,
		"/v1/Accounts/42/items/x":     nil, // literals compare exactly
		"v1/accounts/42/items/x":      nil,
		"":                            nil,
	} {
		got := tm.match(path)
		if (got == nil) != (want == nil) || !maps.Equal(got, want) {
			t.Errorf("%q: got %v, want %v", path, got, want)
		}
	}
	root, err := parseTemplate("/")
	if err != nil {
		t.Fatal(err)
	}
	if got := root.match("/"); got == nil || len(got) != 0 {
		t.Errorf("/ on /: %v", got)
	}
	if got := root.match("/x"); got != nil {
		t.Errorf("/x on /: %v", got)
	}
}

func TestTemplateErrors(t *testing.T) {
	for tmpl, msg := range map[string]string{
		"v1/{id}":                      "must start with /",
		"/v1/{id}/{id}":                "used twice",
		"/v1/{1d}":                     "not a valid variable name",
		"/v1/{}":                       "not a valid variable name",
		"/v1/x{id}":                    "whole segment",
		"/v1//x":                       "empty segment",
		"/v1/../x":                     "not a canonical path",
		"/v1/x?y":                      "not a canonical path",
		"/" + strings.Repeat("a/", 70): "more than 64 segments",
	} {
		if _, err := parseTemplate(tmpl); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", tmpl, err, msg)
		}
	}
}

// FuzzTemplate checks that parsing and matching never panic and that a
// match gives back the path when its values are put into the template.
// The seed corpus is in testdata/fuzz/FuzzTemplate.
func FuzzTemplate(f *testing.F) {
	f.Fuzz(func(t *testing.T, tmpl, path string) {
		tm, err := parseTemplate(tmpl)
		if err != nil {
			return
		}
		params := tm.match(path)
		if params == nil {
			return
		}
		var b strings.Builder
		for _, sg := range tm.segs {
			b.WriteByte('/')
			if sg.name == "" {
				b.WriteString(sg.lit)
				continue
			}
			v := params[sg.name]
			if v == "" || strings.Contains(v, "/") {
				t.Fatalf("%q on %q: bad value %q for %s", tmpl, path, v, sg.name)
			}
			b.WriteString(v)
		}
		if b.String() != path {
			t.Fatalf("%q on %q: rebuilt %q", tmpl, path, b.String())
		}
	})
}
