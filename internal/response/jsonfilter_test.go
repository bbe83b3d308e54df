package response

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustTree(t testing.TB, paths ...string) *node {
	t.Helper()
	n, err := buildTree(paths)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFilterDeny(t *testing.T) {
	cases := []struct {
		name, in, want string // name is the case's description
		paths          []string
	}{
		{"top-level", `{"id":1,"password":"x","name":"a"}`, `{"id":1,"name":"a"}`, []string{"password"}},
		{"first and last", `{"password":"x","id":1,"token":"t"}`, `{"id":1}`, []string{"password", "token"}},
		{"nested", `{"user":{"name":"a","password":"x"},"password":"keep?"}`, `{"user":{"name":"a"},"password":"keep?"}`, []string{"user.password"}},
		{"array elements", `{"items":[{"id":1,"secret":"s"},{"id":2},{"secret":"t"}]}`, `{"items":[{"id":1},{"id":2},{}]}`, []string{"items[].secret"}},
		{"root array", `[{"id":1,"secret":"s"},3,"x",null]`, `[{"id":1},3,"x",null]`, []string{"[].secret"}},
		{"all elements", `{"a":[1,2,3],"b":1}`, `{"a":[],"b":1}`, []string{"a[]"}},
		{"escaped name", `{"pass\u0077ord":"x","id":1}`, `{"id":1}`, []string{"password"}},
		{"escaped solidus in name", `{"a\/b":"x","id":1}`, `{"id":1}`, []string{"a/b"}},
		{"case variant", `{"PassWord":"x","id":1}`, `{"id":1}`, []string{"password"}},
		{"duplicates", `{"password":"x","password":"y","id":1}`, `{"id":1}`, []string{"password"}},
		{"shape differs", `{"user":"plain","items":{"secret":1}}`, `{"user":"plain","items":{"secret":1}}`, []string{"user.password", "items[].secret"}},
		{"whitespace", " { \"a\" : [ 1 , 2 ] ,\n\"b\" : { } } ", `{"a":[1,2],"b":{}}`, []string{"c"}},
		{"strings with braces", `{"a":"}{\"password\":1","password":2}`, `{"a":"}{\"password\":1"}`, []string{"password"}},
		{"empty body", ``, ``, []string{"a"}},
		{"every depth: nested objects", `{"password":1,"user":{"password":2,"profile":{"Password":3,"x":4}}}`, `{"user":{"profile":{"x":4}}}`, []string{"password"}},
		{"every depth: arrays of objects", `{"users":[{"id":1,"password":"a"},{"id":2,"tokens":[{"password":"b","k":1}]}]}`, `{"users":[{"id":1},{"id":2,"tokens":[{"k":1}]}]}`, []string{"password"}},
		{"every depth: root array", `[{"password":1},[{"password":2,"a":3}]]`, `[{},[{"a":3}]]`, []string{"password"}},
		{"every depth: a two-step path anywhere", `{"user":{"secret":1,"a":2},"org":{"user":{"secret":3,"b":4}},"secret":5}`, `{"user":{"a":2},"org":{"user":{"b":4}},"secret":5}`, []string{"user.secret"}},
		{"every depth: array path anywhere", `{"o":{"items":[{"secret":1,"a":2}]},"items":[{"secret":3}]}`, `{"o":{"items":[{"a":2}]},"items":[{}]}`, []string{"items[].secret"}},
		{"every depth: a path under itself", `{"a":{"a":{"b":1,"c":2},"b":3}}`, `{"a":{"a":{"c":2}}}`, []string{"a.b"}},
		{"every depth: nested arrays", `{"m":[[1,2]],"x":{"m":[[3]]}}`, `{"m":[[]],"x":{"m":[[]]}}`, []string{"m[][]"}},
	}
	for _, tc := range cases {
		out, err := filterJSON([]byte(tc.in), nil, mustTree(t, tc.paths...), true)
		if err != nil || string(out) != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, out, err, tc.want)
		}
	}
}

func TestFilterAllow(t *testing.T) {
	cases := []struct {
		name, in, want string
		paths          []string
	}{
		{"top-level", `{"id":1,"password":"x","name":"a"}`, `{"id":1,"name":"a"}`, []string{"id", "name"}},
		{"nested", `{"user":{"name":"a","password":"x","roles":["r"]},"debug":{"sql":"..."}}`, `{"user":{"name":"a","roles":["r"]}}`, []string{"user.name", "user.roles"}},
		{"whole subtree", `{"user":{"name":"a","x":{"y":1}},"z":1}`, `{"user":{"name":"a","x":{"y":1}}}`, []string{"user"}},
		{"array elements", `{"items":[{"id":1,"secret":"s"},{"id":2,"secret":"t"}],"total":2,"internal":true}`, `{"items":[{"id":1},{"id":2}],"total":2}`, []string{"items[].id", "total"}},
		{"root array", `[{"id":1,"s":2},{"s":3}]`, `[{"id":1},{}]`, []string{"[].id"}},
		{"shape differs is dropped", `{"user":"secret-string","items":[1,{"id":2},"x"]}`, `{"items":[{"id":2}]}`, []string{"user.name", "items[].id"}},
		{"null kept", `{"user":null}`, `{"user":null}`, []string{"user.name"}},
		{"exact names only", `{"ID":1,"id":2}`, `{"id":2}`, []string{"id"}},
		{"escaped name", `{"n\u0061me":"a","x":1}`, `{"n\u0061me":"a"}`, []string{"name"}},
		{"first dropped", `{"x":1,"y":2,"id":3}`, `{"id":3}`, []string{"id"}},
	}
	for _, tc := range cases {
		out, err := filterJSON([]byte(tc.in), nil, mustTree(t, tc.paths...), false)
		if err != nil || string(out) != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, out, err, tc.want)
		}
	}
}

func TestFilterRefusesWhatItCannotRead(t *testing.T) {
	bad := []string{
		`{"a":1`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `{a:1}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`,
		`{"a":tru}`, `{"a":nul}`, `{"a":"x` + "\n" + `"}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":1} {}`,
		`{"a":1}x`, `'a'`, `{"a":[1 2]}`, `{"a":{"b":1,,}}`, `{"password":"x"`, `NaN`, `{"a":1,"b"}`,
	}
	for _, in := range bad {
		for _, deny := range []bool{true, false} {
			if _, err := filterJSON([]byte(in), nil, mustTree(t, "a", "password"), deny); !errors.Is(err, errSyntax) {
				t.Errorf("%q (deny %v): err %v, want a syntax error", in, deny, err)
			}
			if json.Valid([]byte(in)) {
				t.Errorf("%q is valid JSON: fix the test", in)
			}
		}
	}
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if _, err := filterJSON([]byte(deep), nil, mustTree(t, "a"), true); !errors.Is(err, errDepth) {
		t.Errorf("deep: %v", err)
	}
	if _, err := filterJSON([]byte(`"just a string"`), nil, mustTree(t, "a"), false); !errors.Is(err, errShape) {
		t.Errorf("allow on a scalar root: %v", err)
	}
}

// refFilter is the same filtering done on decoded values, the
// specification the byte-level filter is checked against.
func refFilter(v any, n *node, deny bool) (any, bool) {
	if deny {
		return refDeny(v, n, []*node{n}), true
	}
	return refAllow(v, n)
}

// refDeny removes what any node of set names, where set is the root (a
// deny path matches at every depth) and the nodes the enclosing values'
// steps reached.
func refDeny(v any, root *node, set []*node) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
	members:
		for k, val := range x {
			next := []*node{root}
			for _, n := range set {
				for _, c := range n.keys {
					if strings.EqualFold(string(c.name), k) {
						if c.n.leaf {
							continue members
						}
						next = append(next, c.n)
					}
				}
			}
			out[k] = refDeny(val, root, next)
		}
		return out
	case []any:
		next := []*node{root}
		for _, n := range set {
			if n.elem != nil {
				if n.elem.leaf {
					return []any{}
				}
				next = append(next, n.elem)
			}
		}
		out := []any{}
		for _, e := range x {
			out = append(out, refDeny(e, root, next))
		}
		return out
	}
	return v
}

// refAllow is refFilter for allow lists.
func refAllow(v any, n *node) (any, bool) {
	if n.leaf {
		return v, true
	}
	switch x := v.(type) {
	case map[string]any:
		if len(n.keys) == 0 {
			break
		}
		out := map[string]any{}
		for k, val := range x {
			for _, c := range n.keys {
				if string(c.name) == k {
					if fv, ok := refAllow(val, c.n); ok {
						out[k] = fv
					}
					break
				}
			}
		}
		return out, true
	case []any:
		if n.elem == nil {
			break
		}
		out := []any{}
		for _, e := range x {
			if fv, ok := refAllow(e, n.elem); ok {
				out = append(out, fv)
			}
		}
		return out, true
	case nil:
		return nil, true
	}
	return v, false
}

func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// hasDuplicateKeys reports whether any object in a valid document repeats
// a member name (encoding/json keeps the last; the filter keeps each).
func hasDuplicateKeys(b []byte) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj   bool
		keys  map[string]bool
		isKey bool
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.obj {
					top.isKey = true
				}
				stack = append(stack, &frame{obj: t == '{', keys: map[string]bool{}, isKey: true})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.obj && top.isKey {
				if top.keys[t] {
					return true
				}
				top.keys[t] = true
				top.isKey = false
				continue
			}
		}
		if top != nil && top.obj {
			top.isKey = true
		}
	}
}

var fuzzPaths = []string{"a", "a.b", "b[].c", "[].a", "A", "c[][]", "a.b.c", "d", "é"}

// FuzzFilterJSON: its seed corpus is in testdata/fuzz/FuzzFilterJSON.
func FuzzFilterJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte, sel uint16, deny bool) {
		var paths []string
		for i, p := range fuzzPaths {
			if sel&(1<<i) != 0 {
				paths = append(paths, p)
			}
		}
		if len(paths) == 0 {
			paths = []string{"a"}
		}
		root := mustTree(t, paths...)
		out, err := filterJSON(in, nil, root, deny)
		if len(bytes.TrimSpace(in)) == 0 || errors.Is(err, errDepth) {
			return
		}
		valid := json.Valid(in)
		if valid != (err == nil || errors.Is(err, errShape)) {
			t.Fatalf("input valid=%v but filter err=%v", valid, err)
		}
		if !valid {
			return
		}
		want, derr := decode(in)
		if derr != nil {
			t.Fatal(derr)
		}
		ref, kept := refFilter(want, root, deny)
		if !kept {
			if !errors.Is(err, errShape) {
				t.Fatalf("reference drops the root; filter gave %q, %v", out, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("filter: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("output %q is not JSON", out)
		}
		if hasDuplicateKeys(in) {
			return
		}
		got, derr := decode(out)
		if derr != nil {
			t.Fatal(derr)
		}
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("filter %q -> %q\nreference %#v", in, out, ref)
		}
	})
}

func TestIsJSON(t *testing.T) {
	for _, tc := range []struct {
		desc, ct string
		want     bool
	}{
		{"application/json", "application/json", true},
		{"with charset", "application/json; charset=utf-8", true},
		{"upper case", "Application/JSON;Charset=UTF-8", true},
		{"text/json", "text/json", true},
		{"text/json with charset", "text/json;charset=utf-8", true},
		{"legacy x-json", "application/x-json", true},
		{"legacy text/x-json", "text/x-json", true},
		{"problem+json", "application/problem+json", true},
		{"vendor +json with parameters", "application/vnd.api+json; ext=\"bulk\"", true},
		{"+json under another top-level type", "text/vnd.example+json", true},
		{"a malformed parameter is judged by the type", "application/json; charset", true},
		{"spaces around the type", "  application/json  ; q=1", true},
		{"not JSON", "text/plain", false},
		{"json-seq is not one document", "application/json-seq", false},
		{"suffix without plus", "application/notjson", false},
		{"no subtype", "json", false},
		{"empty", "", false},
	} {
		if got := isJSON(tc.ct); got != tc.want {
			t.Errorf("%s: isJSON(%q) = %v, want %v", tc.desc, tc.ct, got, tc.want)
		}
	}
}
