package response

import (
	"bytes"
	"errors"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/ascii"
)

// The filter makes one pass over a JSON document held in memory and
// writes what may pass: members and values it keeps are copied byte for
// byte, so the output is valid JSON whenever the input is, and nothing is
// decoded into Go values. The whole input is validated: a document that is
// not well-formed is refused, never passed on half-understood.

var (
	errSyntax = errors.New("response body is not valid JSON")
	errDepth  = errors.New("response body nests too deeply")
	errShape  = errors.New("response body does not have the shape the allow list describes")
)

// maxDepth bounds nesting, so a hostile body cannot exhaust the stack.
const maxDepth = 512

type filter struct {
	in    []byte
	pos   int
	out   []byte
	depth int
	key   []byte // scratch for member names with escapes
	deny  bool   // a deny list (else an allow list)
	// Deny lists only: the root of the path tree, and per depth the
	// scratch set of path nodes a member or element value is matched
	// against (reused across members, so a response allocates them once).
	root *node
	sets [][]*node
}

// filterJSON appends to out the document in with the members named by
// root kept (allow) or removed (deny).
func filterJSON(in, out []byte, root *node, deny bool) ([]byte, error) {
	f := filter{in: in, out: out, deny: deny}
	f.skipWS()
	if f.pos == len(in) {
		return append(out, in...), nil // no document at all: nothing to filter
	}
	var err error
	kept := true
	if deny {
		f.root = root
		err = f.denyValue([]*node{root})
	} else {
		kept, err = f.allowValue(root)
	}
	if err != nil {
		return out, err
	}
	f.skipWS()
	if f.pos != len(in) {
		return out, errSyntax
	}
	if !kept {
		return out, errShape
	}
	return f.out, nil
}

func (f *filter) skipWS() {
	for f.pos < len(f.in) {
		switch f.in[f.pos] {
		case ' ', '\t', '\n', '\r':
			f.pos++
		default:
			return
		}
	}
}

func (f *filter) peek() byte {
	if f.pos < len(f.in) {
		return f.in[f.pos]
	}
	return 0
}

// A deny path matches at every depth (docs/protection.md, "Deny
// semantics": the named members are removed wherever they appear):
// "password" removes the member password of every object of the document,
// nested objects and objects inside arrays included, and "user.password"
// removes password from every object that is the member user of another.
// The filter therefore matches each value against a set of path nodes:
// the tree's root (a path may start at any value) and the nodes that the
// enclosing values' steps reached. A member or element is removed when any
// node of the set names it as the end of a path.

// denyValue copies the value at pos, removing what the nodes of set name.
func (f *filter) denyValue(set []*node) error {
	f.skipWS()
	switch f.peek() {
	case '{', '[':
		return f.container(nil, set)
	}
	return f.copyValue()
}

// scratch returns the empty node set of the current depth, with the root.
func (f *filter) scratch() []*node {
	for len(f.sets) <= f.depth {
		f.sets = append(f.sets, make([]*node, 0, 4))
	}
	return append(f.sets[f.depth][:0], f.root)
}

// denyMember matches the member name of an object against set: drop when
// a node of set names it as the end of a path, else the set its value is
// matched against.
func (f *filter) denyMember(set []*node, name []byte) (next []*node, drop bool) {
	next = f.scratch()
	// Every child whose name matches without regard to case
	// counts ("a.b" and "A" are two children of the root).
match:
	for _, n := range set {
		for i := range n.keys {
			if c := &n.keys[i]; bytes.EqualFold(c.name, name) {
				if c.n.leaf {
					drop = true
					break match
				}
				next = append(next, c.n)
			}
		}
	}
	f.sets[f.depth] = next
	return next, drop
}

// denyElements matches the elements of an array against set: drop when a
// node of set ends a path with "[]", else the set every element is
// matched against.
func (f *filter) denyElements(set []*node) (next []*node, drop bool) {
	next = f.scratch()
	for _, n := range set {
		if n.elem != nil {
			if n.elem.leaf {
				drop = true
				break
			}
			next = append(next, n.elem)
		}
	}
	f.sets[f.depth] = next
	return next, drop
}

// allowValue copies the value at pos keeping only what n names. kept is
// false when the value has another shape than n describes (a string where
// an object is named): such a value is dropped, since the allow list does
// not say it may pass. null is kept; it reveals nothing.
func (f *filter) allowValue(n *node) (kept bool, err error) {
	f.skipWS()
	if n.leaf {
		return true, f.copyValue()
	}
	switch f.peek() {
	case '{':
		if len(n.keys) > 0 {
			return true, f.container(n, nil)
		}
	case '[':
		if n.elem != nil {
			return true, f.container(n, nil)
		}
	case 'n':
		return true, f.copyValue()
	}
	return false, f.scanValue()
}

func (f *filter) enter() error {
	f.depth++
	if f.depth > maxDepth {
		return errDepth
	}
	return nil
}

// container is the one walk of objects and arrays that writes; allow and
// deny lists differ only in what they decide for a member or element.
//
// It copies the object or array at pos: for an allow list (set nil), n is
// the node the container stands at, and an object keeps the members n
// names, an array filters every element with n's element node; for a deny
// list (n nil), an object loses the members set names, an array the
// elements set names ("[]" at the end of a path), and what stays is
// filtered with the set its step reached.
func (f *filter) container(n *node, set []*node) error {
	if err := f.enter(); err != nil {
		return err
	}
	// A local: a field would be read again after every call.
	deny := f.deny
	open := f.in[f.pos]
	obj, end := open == '{', byte(']')
	if obj {
		end = '}'
	}
	var (
		c    *node   // allow: the node of the member or element
		next []*node // deny: the set of the member or element
		drop bool
	)
	if !obj {
		if deny {
			next, drop = f.denyElements(set)
		} else {
			c = n.elem
		}
	}
	f.pos++
	f.out = append(f.out, open)
	first := true
	f.skipWS()
	if f.peek() == end {
		f.pos++
	} else {
		for {
			var ks, ke int
			if obj {
				f.skipWS()
				if f.peek() != '"' {
					return errSyntax
				}
				ks = f.pos
				esc, err := f.scanString()
				if err != nil {
					return err
				}
				ke = f.pos
				f.skipWS()
				if f.peek() != ':' {
					return errSyntax
				}
				f.pos++
				name := f.memberName(f.in[ks+1:ke-1], esc)
				if deny {
					next, drop = f.denyMember(set, name)
				} else {
					c = childOf(n, name)
					drop = c == nil
				}
			}
			var err error
			if drop {
				err = f.scanValue()
			} else {
				mark := len(f.out)
				if !first {
					f.out = append(f.out, ',')
				}
				if obj {
					f.out = append(f.out, f.in[ks:ke]...)
					f.out = append(f.out, ':')
				}
				kept := true
				if deny {
					err = f.denyValue(next)
				} else {
					kept, err = f.allowValue(c)
				}
				if kept {
					first = false
				} else {
					f.out = f.out[:mark]
				}
			}
			if err != nil {
				return err
			}
			f.skipWS()
			if f.peek() == ',' {
				f.pos++
				continue
			}
			if f.peek() == end {
				f.pos++
				break
			}
			return errSyntax
		}
	}
	f.out = append(f.out, end)
	f.depth--
	return nil
}

// memberName is the decoded raw member name (valid until the next call).
func (f *filter) memberName(raw []byte, esc bool) []byte {
	if !esc {
		return raw
	}
	f.key = unescape(f.key[:0], raw)
	return f.key
}

// childOf finds the child of n with the decoded member name, compared
// exactly (allow lists). A deny list matches names without regard to case
// (it errs toward removing, and some clients match fields that way): see
// denyMember.
func childOf(n *node, name []byte) *node {
	for i := range n.keys {
		if c := &n.keys[i]; bytes.Equal(c.name, name) {
			return c.n
		}
	}
	return nil
}

// copyValue copies the value at pos unchanged.
func (f *filter) copyValue() error {
	f.skipWS()
	start := f.pos
	if err := f.scanValue(); err != nil {
		return err
	}
	f.out = append(f.out, f.in[start:f.pos]...)
	return nil
}

// scanValue validates the value at pos and moves past it.
func (f *filter) scanValue() error {
	f.skipWS()
	switch c := f.peek(); {
	case c == '"':
		_, err := f.scanString()
		return err
	case c == '{' || c == '[':
		return f.scanContainer()
	case c == 't':
		return f.literal("true")
	case c == 'f':
		return f.literal("false")
	case c == 'n':
		return f.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return f.scanNumber()
	}
	return errSyntax
}

func (f *filter) scanContainer() error {
	if err := f.enter(); err != nil {
		return err
	}
	obj := f.in[f.pos] == '{'
	end := byte(']')
	if obj {
		end = '}'
	}
	f.pos++
	f.skipWS()
	if f.peek() == end {
		f.pos++
		f.depth--
		return nil
	}
	for {
		if obj {
			f.skipWS()
			if f.peek() != '"' {
				return errSyntax
			}
			if _, err := f.scanString(); err != nil {
				return err
			}
			f.skipWS()
			if f.peek() != ':' {
				return errSyntax
			}
			f.pos++
		}
		if err := f.scanValue(); err != nil {
			return err
		}
		f.skipWS()
		switch f.peek() {
		case ',':
			f.pos++
		case end:
			f.pos++
			f.depth--
			return nil
		default:
			return errSyntax
		}
	}
}

func (f *filter) literal(lit string) error {
	if len(f.in)-f.pos < len(lit) || string(f.in[f.pos:f.pos+len(lit)]) != lit {
		return errSyntax
	}
	f.pos += len(lit)
	return nil
}

// scanNumber follows the JSON number grammar exactly.
func (f *filter) scanNumber() error {
	in, i := f.in, f.pos
	if i < len(in) && in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && in[i] >= '1' && in[i] <= '9':
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	default:
		return errSyntax
	}
	if i < len(in) && in[i] == '.' {
		i++
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			return errSyntax
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		d := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == d {
			return errSyntax
		}
	}
	f.pos = i
	return nil
}

// scanString validates the string at pos (which is '"') and moves past
// its closing quote. esc reports whether it holds escapes.
func (f *filter) scanString() (esc bool, err error) {
	in := f.in
	i := f.pos + 1
	for i < len(in) {
		c := in[i]
		switch {
		case c == '"':
			f.pos = i + 1
			return esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(in) {
				return esc, errSyntax
			}
			switch in[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(in) {
					return esc, errSyntax
				}
				for _, h := range in[i+2 : i+6] {
					if _, ok := ascii.Unhex(h); !ok {
						return esc, errSyntax
					}
				}
				i += 6
			default:
				return esc, errSyntax
			}
		case c < 0x20:
			return esc, errSyntax
		default:
			i++
		}
	}
	return esc, errSyntax
}

// unescape appends the decoded form of a validated string's content to
// dst, as encoding/json decodes it (a lone surrogate becomes U+FFFD).
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if d := utf16.DecodeRune(r, hex4(s[i+2:])); d != utf8.RuneError {
						r2 = d
						i += 6
					}
				}
				r = r2
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// hex4 is the value of four hex digits (checked by validate).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		v, _ := ascii.Unhex(c)
		r = r<<4 | rune(v)
	}
	return r
}
