package config

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse checks that no input makes the loader panic or hang, and that
// what it reports is what an operator can act on: a file that decodes
// either validates or comes back as Errors in which every error is
// positioned (file:line:col and the field's path; a YAML syntax error has
// at least its line; only a file without a document has no position), on a line the
// file has. The same input always gives the same answer, and policy
// decoding of whatever parsed is as robust. The seed corpus is in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		c2, err2 := Parse("fuzz.yaml", data)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("two parses of the same input differ: %v / %v", err, err2)
		}
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			for _, e := range es {
				checkPositioned(t, e, lines(data))
			}
			return
		}
		if c == nil || c2 == nil {
			t.Fatal("nil config without error")
		}
		for _, r := range c.Routes {
			for _, p := range r.Policies {
				var v any
				if err := c.PolicyDecoder(p).Decode(&v); err != nil {
					checkDecoderError(t, err, lines(data))
				}
				if err := c.PolicyDecoder(p).Decode(&jwtConf{}); err != nil {
					checkDecoderError(t, err, lines(data))
				}
			}
		}
	})
}

// lines counts the lines of data as YAML does: LF, CR LF, a lone CR, NEL,
// LS and PS each end one.
func lines(data []byte) int {
	n := 1
	s := string(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")))
	for _, r := range s {
		if r == '\n' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029 {
			n++
		}
	}
	return n
}

// checkPositioned: e is "file:line:col: path: message" unless it is a
// syntax error (a line, no path) or the empty-file error.
func checkPositioned(t *testing.T, e *FieldError, lines int) {
	t.Helper()
	switch {
	case e.Msg == "":
		t.Fatalf("empty message: %+v", e)
	case e.File != "fuzz.yaml":
		t.Fatalf("error without the file name: %v", e)
	case e.Line == 0 && e.Msg == "the file is empty":
		return // no YAML document at all (blank, or only comments)
	case e.Line < 1 || e.Line > lines:
		t.Fatalf("error at line %d of a %d-line file: %v", e.Line, lines, e)
	case e.Path == "":
		return // a YAML syntax error: the parser knows the line only
	case e.Column < 1:
		t.Fatalf("error about a field without a column: %v", e)
	}
}

// checkDecoderError: a policy's decoding error is positioned too.
func checkDecoderError(t *testing.T, err error, lines int) {
	t.Helper()
	var es Errors
	var fe *FieldError
	switch {
	case errors.As(err, &es):
		for _, e := range es {
			checkPositioned(t, e, lines)
		}
	case errors.As(err, &fe):
		checkPositioned(t, fe, lines)
	default:
		t.Fatalf("policy decoding error without a position: %T %v", err, err)
	}
}
