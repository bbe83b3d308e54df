package exposure

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
		name, in, want string
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
		{"whitespace", " { \"a\" : [ 1 , 2 ] ,\n\"b\" : { } } ", `{"a":[ 1 , 2 ],"b":{ }}`, []string{"c"}},
		{"strings with braces", `{"a":"}{\"password\":1","password":2}`, `{"a":"}{\"password\":1"}`, []string{"password"}},
		{"empty body", ``, ``, []string{"a"}},
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
	find := func(k string) *node {
		for _, c := range n.keys {
			if deny && strings.EqualFold(string(c.name), k) || !deny && string(c.name) == k {
				return c.n
			}
		}
		return nil
	}
	if !deny && n.leaf {
		return v, true
	}
	switch x := v.(type) {
	case map[string]any:
		if len(n.keys) == 0 {
			break
		}
		out := map[string]any{}
		for k, val := range x {
			c := find(k)
			switch {
			case deny && c == nil:
				out[k] = val
			case deny && c.leaf:
			case c == nil:
			default:
				if fv, ok := refFilter(val, c, deny); ok {
					out[k] = fv
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
			if deny && n.elem.leaf {
				continue
			}
			if fv, ok := refFilter(e, n.elem, deny); ok {
				out = append(out, fv)
			}
		}
		return out, true
	case nil:
		return nil, true
	}
	return v, deny
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
