package config

import (
	"errors"
	"fmt"
	"sort"
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
// Errors never becomes a non-nil error interface).
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	return es
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

// ErrorsAt is ErrorAt that keeps every positioned error err carries.
func (c *Config) ErrorsAt(node *yaml.Node, path string, err error) Errors {
	if err == nil {
		return nil
	}
	var es Errors
	if errors.As(err, &es) && len(es) > 0 {
		return es
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return Errors{fe}
	}
	out := &FieldError{File: c.File, Path: path, Msg: err.Error()}
	if node != nil {
		out.Line, out.Column = node.Line, node.Column
	}
	return Errors{out}
}
