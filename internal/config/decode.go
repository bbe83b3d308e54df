package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The strict walker. yaml.v3's Node.Decode cannot reject unknown fields, so
// this decoder walks a yaml.Node and a Go value side by side with
// reflection: every unknown or repeated key, every type mismatch and every
// unresolvable secret reference becomes a FieldError at the node's line and
// column, and decoding goes on so that all problems are reported at once.

const (
	maxDepth = 100 // nesting, aliases included
	// Alias expansion budget: the decoder visits at most this many nodes
	// per node in the document (plus a floor), which stops "billion laughs"
	// documents while leaving room for anchors shared by many routes.
	budgetPerNode = 64
	budgetFloor   = 1 << 14
)

type decoder struct {
	file  string
	errs  Errors
	nodes map[string]*yaml.Node // field path -> value node; nil: not recorded
	// secrets maps the field path of each expanded value to its reference
	// text, so that messages can name the reference instead of the value.
	secrets map[string]string
	// storeRefs maps the field path of each ${store:NAME} to NAME.
	storeRefs map[string]string
	// skipKind is the policy mapping whose "kind" key NodeDecoder ignores.
	skipKind *yaml.Node
	budget   int
	depth    int
	active   map[*yaml.Node]bool // aliases being expanded (cycle guard)
	overrun  bool
}

func newDecoder(file string, root *yaml.Node) *decoder {
	return &decoder{
		file:      file,
		secrets:   map[string]string{},
		storeRefs: map[string]string{},
		budget:    budgetFloor + budgetPerNode*countNodes(root, 0),
		active:    map[*yaml.Node]bool{},
	}
}

// countNodes counts the nodes of the tree without following aliases.
func countNodes(n *yaml.Node, depth int) int {
	if n == nil || depth > maxDepth {
		return 0
	}
	c := 1
	for _, ch := range n.Content {
		c += countNodes(ch, depth+1)
	}
	return c
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &FieldError{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

var (
	nodeType          = reflect.TypeFor[yaml.Node]()
	durationType      = reflect.TypeFor[time.Duration]()
	unmarshalerType   = reflect.TypeFor[yaml.Unmarshaler]()
	obsoleteUnmarshal = reflect.TypeFor[interface {
		UnmarshalYAML(func(any) error) error
	}]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// enter resolves document and alias nodes and charges the budget. It
// returns nil when n must not be decoded (error already reported).
func (d *decoder) enter(n *yaml.Node, path string) (*yaml.Node, func()) {
	done := func() {}
	if d.budget--; d.budget < 0 {
		if !d.overrun {
			d.overrun = true
			d.errorf(n, path, "document is too large or expands too many aliases")
		}
		return nil, done
	}
	if d.depth >= maxDepth {
		d.errorf(n, path, "nested too deeply (more than %d levels)", maxDepth)
		return nil, done
	}
	var undo []*yaml.Node
	for n != nil && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode) {
		if n.Kind == yaml.DocumentNode {
			if len(n.Content) == 0 {
				return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}, done
			}
			n = n.Content[0]
			continue
		}
		if n.Alias == nil || d.active[n.Alias] {
			d.errorf(n, path, "alias *%s refers to a value that contains it", n.Value)
			for _, a := range undo {
				delete(d.active, a)
			}
			return nil, done
		}
		d.active[n.Alias] = true
		undo = append(undo, n.Alias)
		n = n.Alias
	}
	d.depth++
	return n, func() {
		d.depth--
		for _, a := range undo {
			delete(d.active, a)
		}
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decode fills v (settable) from n; path is the field path of v.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n, leave := d.enter(n, path)
	defer leave()
	if n == nil {
		return
	}
	if d.nodes != nil {
		d.nodes[path] = n
	}
	if n.Kind == yaml.ScalarNode {
		if ref, val, isRef, err := resolveRef(n.Value); err != nil {
			d.errorf(n, path, "%v", err)
			return
		} else if isRef {
			d.secrets[path] = ref
			if name, ok := storeRefName(ref); ok {
				d.storeRefs[path] = name
			}
			d.decodeSecret(n, path, v, ref, val)
			return
		} else if val != n.Value {
			// "$${...}": an escaped literal.
			c := *n
			c.Value, c.Tag, c.Style = val, "!!str", yaml.DoubleQuotedStyle
			n = &c
		}
	}
	d.decodeValue(n, path, v)
}

// decodeSecret decodes an expanded secret. The value is never quoted in an
// error: messages name the reference instead.
func (d *decoder) decodeSecret(n *yaml.Node, path string, v reflect.Value, ref, val string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.String && !hasCustomDecoding(v) {
		v.SetString(val)
		return
	}
	if v.Kind() == reflect.Interface && v.NumMethod() == 0 {
		v.Set(reflect.ValueOf(val)) // a secret is text, whatever it looks like
		return
	}
	c := *n
	c.Value, c.Tag, c.Style = val, "", 0 // let the expanded text resolve as a plain scalar
	mark := len(d.errs)
	d.decodeValue(&c, path, v)
	if len(d.errs) > mark {
		d.errs = d.errs[:mark]
		d.errorf(n, path, "the value of %s is not %s", ref, describe(v.Type()))
	}
}

func hasCustomDecoding(v reflect.Value) bool {
	if !v.CanAddr() {
		return false
	}
	t := v.Addr().Type()
	return t.Implements(unmarshalerType) || t.Implements(obsoleteUnmarshal) || t.Implements(textUnmarshalerType)
}

func (d *decoder) decodeValue(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			v.Set(reflect.Zero(t))
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decodeValue(n, path, v.Elem())
		return
	}
	if v.CanAddr() {
		switch u := v.Addr().Interface().(type) {
		case yaml.Unmarshaler:
			if err := u.UnmarshalYAML(n); err != nil {
				d.unmarshalError(n, path, err)
			}
			if ps, ok := u.(*PolicySpec); ok {
				ps.Path = path
			}
			return
		case interface{ UnmarshalYAML(func(any) error) error }:
			if err := n.Decode(u); err != nil {
				d.unmarshalError(n, path, err)
			}
			return
		case encoding.TextUnmarshaler:
			if n.Kind != yaml.ScalarNode {
				d.errorf(n, path, "expected %s", describe(t))
				return
			}
			if err := u.UnmarshalText([]byte(n.Value)); err != nil {
				d.errorf(n, path, "%v", err)
			}
			return
		}
	}
	if isNull(n) {
		v.Set(reflect.Zero(t))
		return
	}
	if t == durationType {
		dur, err := time.ParseDuration(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, path, "expected a duration such as \"30s\", got %s", show(n))
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.errorf(n, path, "cannot decode into %s", t)
			return
		}
		if x, ok := d.decodeAny(n, path); ok && x != nil {
			v.Set(reflect.ValueOf(x))
		}
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, got %s", show(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, indexPath(path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Array:
		if n.Kind != yaml.SequenceNode || len(n.Content) != v.Len() {
			d.errorf(n, path, "expected a list of %d items, got %s", v.Len(), show(n))
			return
		}
		for i, item := range n.Content {
			d.decode(item, indexPath(path, i), v.Index(i))
		}
	default:
		d.decodeScalar(n, path, v)
	}
}

// unmarshalError reports an error from a custom UnmarshalYAML.
func (d *decoder) unmarshalError(n *yaml.Node, path string, err error) {
	switch e := err.(type) {
	case *nodeError:
		at := e.node
		if at == nil {
			at = n
		}
		p := path
		if e.sub != "" {
			p = joinPath(path, e.sub)
		}
		d.errorf(at, p, "%s", e.msg)
	case *yaml.TypeError:
		for _, m := range e.Errors {
			d.errorf(n, path, "%s", m)
		}
	default:
		d.errorf(n, path, "%v", err)
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected %s, got %s", describe(v.Type()), show(n))
		return
	}
	tag := n.ShortTag()
	bad := func() { d.errorf(n, path, "expected %s, got %s", describe(v.Type()), show(n)) }
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			bad()
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil {
			bad()
			return
		}
		if v.OverflowInt(i) {
			d.errorf(n, path, "%s is out of range for %s", n.Value, describe(v.Type()))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil {
			var u uint64
			if tag != "!!int" || n.Decode(&u) != nil {
				bad()
				return
			}
			if v.OverflowUint(u) {
				d.errorf(n, path, "%s is out of range for %s", n.Value, describe(v.Type()))
				return
			}
			v.SetUint(u)
			return
		}
		if i < 0 || v.OverflowUint(uint64(i)) {
			d.errorf(n, path, "%s is out of range for %s", n.Value, describe(v.Type()))
			return
		}
		v.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		var f float64
		if (tag != "!!float" && tag != "!!int") || n.Decode(&f) != nil {
			bad()
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "cannot decode into %s", v.Type())
	}
}

// describe names what a Go type expects, for error messages.
func describe(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration](), durationType:
		return "a duration such as \"30s\""
	case reflect.TypeFor[Size]():
		return "a size such as \"1MiB\""
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describe(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// show describes a node for an error message without dumping large values.
func show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	s := n.Value
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

// pair is one key and value of a mapping, after merge keys are applied.
type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's keys and values: "<<" merge keys are expanded
// (explicit keys win, then earlier merged mappings), repeated keys are
// reported, and the "kind" key of the policy being decoded is left out.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var explicit, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "mapping keys must be strings")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, joinPath(path, k.Value), "%q is set twice (first on line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		explicit = append(explicit, pair{k, val})
	}
	for _, p := range merged {
		if _, dup := seen[p.key.Value]; dup {
			continue
		}
		seen[p.key.Value] = p.key
		explicit = append(explicit, p)
	}
	if n == d.skipKind {
		out := explicit[:0]
		for _, p := range explicit {
			if p.key.Value != "kind" {
				out = append(out, p)
			}
		}
		explicit = out
	}
	return explicit
}

func (d *decoder) mergePairs(val *yaml.Node, path string) []pair {
	val, leave := d.enter(val, path)
	defer leave()
	if val == nil {
		return nil
	}
	switch val.Kind {
	case yaml.MappingNode:
		return d.pairs(val, path)
	case yaml.SequenceNode:
		var out []pair
		for _, m := range val.Content {
			m2, leave2 := d.enter(m, path)
			if m2 != nil && m2.Kind == yaml.MappingNode {
				out = append(out, d.pairs(m2, path)...)
			} else if m2 != nil {
				d.errorf(m, path, "a merge (<<) takes a mapping or a list of mappings")
			}
			leave2()
		}
		return out
	}
	d.errorf(val, path, "a merge (<<) takes a mapping or a list of mappings")
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", show(n))
		return
	}
	fields := fieldsOf(v.Type())
	for _, p := range d.pairs(n, path) {
		name := p.key.Value
		idx, ok := fields.byName[name]
		if !ok {
			msg := fmt.Sprintf("unknown field %q", name)
			if s := suggest(name, fields.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errorf(p.key, joinPath(path, name), "%s", msg)
			continue
		}
		before := len(d.errs)
		fv := v.FieldByIndex(idx)
		d.decode(p.value, joinPath(path, name), fv)
		if len(d.errs) == before {
			d.writtenZero(p.value, joinPath(path, name), fv, v.Type().FieldByIndex(idx))
			d.writtenEmpty(p.value, joinPath(path, name), v.Type().FieldByIndex(idx))
		}
	}
}

// writtenZero refuses an optional field written as zero ("timeout: 0s",
// "max_bytes: 0", "attempts: 0", "max_keys: 0") or as an empty string
// ("expires_at: ${env:KEY_EXPIRY}" with the variable set but empty), in the
// file and in a policy's options: the gateway reads zero and "" as "not
// set" and puts the default in its place, so the value written, often
// meant as "none" or "off" (no cache, no skew, no retry, no body, ask
// every time), would silently become five minutes, a megabyte, three
// attempts or a key that never expires. A field whose zero is a value of
// its own is a pointer (the written zero kept: jwt leeway, basic and
// introspection cache_ttl, retries' budget, validate max_query_params, an
// api_key method's authorization_scheme: "") or carries the tag
// zero:"value" (write_timeout: no limit while streaming; a rule's ban:
// alert only; cors max_age: no Max-Age header; concurrency queue_timeout
// and queue: no queue; max_connections: no limit; a route's priority;
// Redis database 0).
func (d *decoder) writtenZero(n *yaml.Node, path string, v reflect.Value, f reflect.StructField) {
	// A required field (no omitempty) has no default to fall back on: its
	// own check refuses a zero with its own words.
	if isNull(n) || f.Tag.Get("zero") == "value" || !strings.Contains(f.Tag.Get("yaml"), ",omitempty") || !v.IsZero() {
		return
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		d.errorf(n, path, "%s here would be the default, not zero: leave it out for the default, or write a value above zero", show(n))
	case reflect.String:
		// Most often an environment variable set but empty
		// (expires_at: ${env:KEY_EXPIRY}: a key that never expires).
		d.errorf(n, path, "%s is empty, and empty here would be the default: leave it out for the default, or write a value", show(n))
	}
}

// writtenEmpty refuses a list written empty ("methods: []", "allow: []")
// where an empty list means what leaving the field out means, and that is
// the opposite of what "none" would: every method, every address, the
// default list. A list emptied by a template or an edit, or written as
// "none", would open the route or bring the defaults back without a word.
// The field's tag empty:"..." says what the empty list would mean; lists
// without it (trusted_proxies, policies, a deny list) mean nothing when
// empty, which is what an empty list says.
func (d *decoder) writtenEmpty(n *yaml.Node, path string, f reflect.StructField) {
	meaning := f.Tag.Get("empty")
	if meaning == "" || n.Kind != yaml.SequenceNode || len(n.Content) > 0 {
		return
	}
	d.errorf(n, path, "[] here would mean %s, as if it were left out: leave it out for that, or list at least one", meaning)
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", show(n))
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, p := range d.pairs(n, path) {
		kp := joinPath(path, p.key.Value)
		k := reflect.New(t.Key()).Elem()
		if t.Key().Kind() == reflect.String {
			k.SetString(p.key.Value)
		} else {
			mark := len(d.errs)
			d.decodeValue(p.key, kp, k)
			if len(d.errs) > mark {
				continue
			}
		}
		e := reflect.New(t.Elem()).Elem()
		d.decode(p.value, kp, e)
		v.SetMapIndex(k, e)
	}
}

// decodeAny decodes into an empty interface: mappings become
// map[string]any, lists []any, scalars their YAML type; secret references
// are expanded like everywhere else.
func (d *decoder) decodeAny(n *yaml.Node, path string) (any, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for _, p := range d.pairs(n, path) {
			var x any
			d.decode(p.value, joinPath(path, p.key.Value), reflect.ValueOf(&x).Elem())
			m[p.key.Value] = x
		}
		return m, true
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, item := range n.Content {
			d.decode(item, indexPath(path, i), reflect.ValueOf(&s[i]).Elem())
		}
		return s, true
	case yaml.ScalarNode:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(n, path, "invalid value %s", show(n))
			return nil, false
		}
		return x, true
	}
	d.errorf(n, path, "unexpected YAML node")
	return nil, false
}
