package config

import (
	"errors"
	"fmt"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestErrorsAtPositionsEachProblemAtItsField: a compiler's errors, joined
// or alone, structured or following the "field: message" convention, are
// each positioned at the field they name when the node has it.
func TestErrorsAtPositionsEachProblemAtItsField(t *testing.T) {
	const src = `kind: x
methods:
  - jwt:
      algorithms: [HS256, none]
limits:
  - {rate: 0, per: 1s}
`
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	node := doc.Content[0]
	c := &Config{File: "f.yaml"}
	for _, tc := range []struct {
		desc string
		err  error
		want []string
	}{
		{desc: "a structured error at a list entry", err: FieldErrorf("methods[0].jwt.algorithms[1]", "no"),
			want: []string{"f.yaml:4:27: p.methods[0].jwt.algorithms[1]: no"}},
		{desc: "joined errors are all kept", err: errors.Join(FieldErrorf("limits[0].rate", "a"), FieldErrorf("methods", "b")),
			want: []string{"f.yaml:6:12: p.limits[0].rate: a", "f.yaml:3:3: p.methods: b"}},
		{desc: "a plain error naming a field", err: errors.New("limits[0]: rate must be at least 1"),
			want: []string{"f.yaml:6:5: p.limits[0]: rate must be at least 1"}},
		{desc: "a plain error naming a field the node lacks stays at the node", err: errors.New("bucket: bad"),
			want: []string{"f.yaml:1:1: p: bucket: bad"}},
		{desc: "a field below a missing one is at its closest ancestor", err: FieldErrorf("limits[0].burst", "c"),
			want: []string{"f.yaml:6:5: p.limits[0].burst: c"}},
		{desc: "a wrapped positioned error keeps its position", err: fmt.Errorf("auth: %w", FieldErrorf("methods[0]", "d")),
			want: []string{"f.yaml:3:5: p.methods[0]: d"}},
		{desc: "a plain error is at the node", err: errors.New("something"),
			want: []string{"f.yaml:1:1: p: something"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			es := c.ErrorsAt(node, "p", tc.err)
			if len(es) != len(tc.want) {
				t.Fatalf("got %v", es)
			}
			for i, e := range es {
				if e.Error() != tc.want[i] {
					t.Errorf("got %q, want %q", e.Error(), tc.want[i])
				}
			}
		})
	}
}

// TestErrorsAreListedOnce: the same problem reported twice (a credential
// checked by every route using its method) is listed once.
func TestErrorsAreListedOnce(t *testing.T) {
	e := &FieldError{File: "f", Line: 2, Column: 3, Path: "a", Msg: "m"}
	dup := *e
	err := Errors{e, &FieldError{File: "f", Line: 1, Path: "b", Msg: "n"}, &dup}.Err()
	if es := err.(Errors); len(es) != 2 || es[0].Path != "b" {
		t.Fatalf("got %v", es)
	}
}
