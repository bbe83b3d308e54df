package authz

import (
	"fmt"
	"strings"
)

// pathTemplate matches canonical paths such as /v1/accounts/42 against a
// template such as /v1/accounts/{id} and names the variable segments. A
// variable matches exactly one non-empty segment; every other segment must
// be equal, byte for byte, to the canonical path's (which is still
// percent-encoded: the value of {id} for /v1/accounts/a%20b is "a%20b").
type pathTemplate struct {
	segs []tmplSeg
}

type tmplSeg struct {
	lit  string
	name string // non-empty for a variable
}

// maxTemplateSegments bounds a template (and so the work of one match).
const maxTemplateSegments = 64

// parseTemplate reads a template: it starts with "/", and each segment is
// either literal text or a whole "{name}" with name an identifier.
func parseTemplate(s string) (*pathTemplate, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("path_template %q must start with /", s)
	}
	parts := strings.Split(s[1:], "/")
	if len(parts) > maxTemplateSegments {
		return nil, fmt.Errorf("path_template has more than %d segments", maxTemplateSegments)
	}
	t := &pathTemplate{segs: make([]tmplSeg, 0, len(parts))}
	seen := map[string]bool{}
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			name := p[1 : len(p)-1]
			if !isIdent(name) {
				return nil, fmt.Errorf("path_template: %q is not a valid variable name", name)
			}
			if seen[name] {
				return nil, fmt.Errorf("path_template: variable %q is used twice", name)
			}
			seen[name] = true
			t.segs = append(t.segs, tmplSeg{name: name})
			continue
		}
		if strings.ContainsAny(p, "{}") {
			return nil, fmt.Errorf("path_template: segment %d: a variable must be a whole segment", i+1)
		}
		if p == "" && i != len(parts)-1 {
			return nil, fmt.Errorf("path_template %q has an empty segment", s)
		}
		if p == "." || p == ".." || strings.ContainsAny(p, "?#\\") {
			return nil, fmt.Errorf("path_template %q is not a canonical path", s)
		}
		t.segs = append(t.segs, tmplSeg{lit: p})
	}
	return t, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// match returns the variables of path, or nil when path does not match.
func (t *pathTemplate) match(path string) map[string]string {
	if len(path) == 0 || path[0] != '/' {
		return nil
	}
	rest := path[1:]
	var params map[string]string
	for i, sg := range t.segs {
		var seg string
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			if i == len(t.segs)-1 {
				return nil // the path is longer than the template
			}
			seg, rest = rest[:j], rest[j+1:]
		} else {
			if i != len(t.segs)-1 {
				return nil // the path is shorter
			}
			seg, rest = rest, ""
		}
		if sg.name == "" {
			if seg != sg.lit {
				return nil
			}
			continue
		}
		if seg == "" {
			return nil
		}
		if params == nil {
			params = make(map[string]string, 2)
		}
		params[sg.name] = seg
	}
	if params == nil {
		params = map[string]string{}
	}
	return params
}
