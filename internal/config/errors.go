package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem in a configuration file, positioned at the
// YAML node it is about.
type FieldError struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	// Path names the field with YAML names and [index], e.g. routes[1].service.
	Path string
	Msg  string
}

// Error formats the error as "file:line:col: path: message"; parts that
// are unknown are left out (YAML syntax errors have a line but no column).
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, "%d:", e.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration, sorted by position.
// A nil or empty Errors is never returned as a non-nil error by this package.
type Errors []*FieldError

// Error prints one error per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the individual *FieldError values.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Sort orders the errors by file, line and column, keeping the order of
// errors at the same position.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// Err returns es as an error, or nil when it is empty (so that a nil
// Errors never becomes a non-nil error interface). It is sorted, and an
// error reported twice (a consumer's credential, checked by every route
// that uses its method) is listed once.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	seen := make(map[FieldError]bool, len(es))
	out := es[:0]
	for _, e := range es {
		if !seen[*e] {
			seen[*e] = true
			out = append(out, e)
		}
	}
	out.Sort()
	return out
}

// nodeError is an error that names the node it is about; decoders (such as
// PolicySpec.UnmarshalYAML) return it to point below the node they were given.
type nodeError struct {
	node *yaml.Node
	sub  string // path below the decoded node ("kind"), may be empty
	msg  string
}

func (e *nodeError) Error() string { return e.msg }

// ErrorAt turns err into a FieldError at node, for errors found after
// decoding (a policy that fails to compile, a certificate that does not
// load). An err that already carries a position (a *FieldError, or an
// Errors from NodeDecoder.Decode) keeps it: the first one is returned; use
// ErrorsAt to keep them all.
func (c *Config) ErrorAt(node *yaml.Node, path string, err error) *FieldError {
	if es := c.ErrorsAt(node, path, err); len(es) > 0 {
		return es[0]
	}
	return nil
}

// ErrorsAt is ErrorAt that keeps every positioned error err carries. It
// flattens joined errors (errors.Join, Errors), positions each
// *RelError at its field below node, and positions a plain error whose
// text starts with a field path relative to node ("limits[0]: rate must
// be at least 1", the convention of policy compilers) at that field when
// node has it. Anything else is positioned at node.
func (c *Config) ErrorsAt(node *yaml.Node, path string, err error) Errors {
	var out Errors
	c.collect(node, path, err, &out)
	return out
}

func (c *Config) collect(node *yaml.Node, path string, err error, out *Errors) {
	switch e := err.(type) {
	case nil:
		return
	case *FieldError:
		*out = append(*out, e)
		return
	case Errors:
		*out = append(*out, e...)
		return
	case *RelError:
		*out = append(*out, c.atField(node, path, e.Field, e.Msg))
		return
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			c.collect(node, path, e, out)
		}
		return
	}
	// A wrapped error that carries positions keeps them: the wrapper's
	// text ("auth: ...") is context that the position replaces.
	if inner := errors.Unwrap(err); inner != nil && positioned(inner) {
		c.collect(node, path, inner, out)
		return
	}
	msg := err.Error()
	if m := leadingField.FindStringSubmatch(msg); m != nil && walkNode(node, m[1]) != nil {
		*out = append(*out, c.atField(node, path, m[1], m[2]))
		return
	}
	e := &FieldError{File: c.File, Path: path, Msg: msg}
	if node != nil {
		e.Line, e.Column = node.Line, node.Column
	}
	*out = append(*out, e)
}

// positioned reports whether err carries a position somewhere inside.
func positioned(err error) bool {
	var fe *FieldError
	var re *RelError
	return errors.As(err, &fe) || errors.As(err, &re)
}

// RelError is a problem with one field below the node being compiled
// (a policy mapping, an authentication method), named relative to it:
// "algorithms[1]", "limits[0].rate". ErrorsAt positions it at the field's
// line and column. A compiler that finds several problems returns them
// joined (errors.Join), so that one run lists them all.
type RelError struct {
	Field string
	Msg   string
}

func (e *RelError) Error() string { return e.Field + ": " + e.Msg }

// FieldErrorf returns a *RelError for field.
func FieldErrorf(field, format string, args ...any) error {
	return &RelError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// leadingField matches "field.path[0]: message".
var leadingField = regexp.MustCompile(`(?s)^((?:[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])(?:\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])*): (.+)$`)

// atField is a FieldError for field below node (at path): at the field's
// own node when the file has it, else at its closest ancestor that it has.
func (c *Config) atField(node *yaml.Node, path, field, msg string) *FieldError {
	full := path + "." + field
	if strings.HasPrefix(field, "[") || path == "" {
		full = path + field
	}
	if c.meta != nil {
		if n := c.meta.nodes[full]; n != nil { // decoded with the file: known exactly
			return &FieldError{File: c.File, Path: full, Msg: msg, Line: n.Line, Column: n.Column}
		}
	}
	e := &FieldError{File: c.File, Path: full, Msg: msg}
	for f := field; ; f = parentPath(f) {
		if n := walkNode(node, f); n != nil {
			e.Line, e.Column = n.Line, n.Column
			return e
		}
		if f == "" {
			break
		}
	}
	if node != nil {
		e.Line, e.Column = node.Line, node.Column
	}
	return e
}

// walkNode follows a relative field path ("methods[0].jwt.algorithms[1]")
// from node through mappings (merge keys included) and sequences; nil when
// the file does not have it. The empty path is node itself.
func walkNode(node *yaml.Node, field string) *yaml.Node {
	n := node
	for f := field; n != nil && f != ""; {
		for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
			n = n.Alias
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		switch {
		case f[0] == '[':
			end := strings.IndexByte(f, ']')
			i, err := strconv.Atoi(f[1:max(end, 1)])
			if end < 0 || err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return nil
			}
			n, f = n.Content[i], f[end+1:]
		case f[0] == '.':
			f = f[1:]
		default:
			end := strings.IndexAny(f, ".[")
			if end < 0 {
				end = len(f)
			}
			if n.Kind != yaml.MappingNode {
				return nil
			}
			n, f = findKey(n, f[:end], 0), f[end:]
		}
	}
	return n
}
