package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// meta is what decoding learned about the file.
type meta struct {
	root    *yaml.Node            // the top-level node
	nodes   map[string]*yaml.Node // field path -> value node
	secrets map[string]string     // field path -> secret reference text
	// storeRefs maps the field path of each ${store:NAME} to NAME: the
	// value is resolved from the store when the gateway compiles.
	storeRefs map[string]string
}

// Load reads, decodes, expands, defaults and validates the file at path.
// Configuration problems come back as Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- the operator names the config file
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for data already read; file names the data in errors.
// It decodes strictly, expands secret references, applies defaults and
// validates; every problem found is returned as one Errors, sorted by line.
func Parse(file string, data []byte) (*Config, error) {
	c, err := ParseAll(file, data)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ParseAll is Parse that also returns the decoded config when it has
// errors (nil only when the YAML itself does not parse), for a tool that
// looks for more problems in it: portcullis validate compiles the policies
// of a config with errors too, so that one run lists every problem. A
// config returned with an error must never serve.
func ParseAll(file string, data []byte) (*Config, error) {
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	c := &Config{File: file, SHA256: hex.EncodeToString(sum[:])}
	d := newDecoder(file, root)
	d.nodes = map[string]*yaml.Node{}
	d.decode(root, "", reflect.ValueOf(c).Elem())
	c.File = file // a null document ("~", "!") decodes to the zero Config
	top := root
	if top.Kind == yaml.DocumentNode && len(top.Content) > 0 {
		top = top.Content[0]
	}
	c.meta = &meta{root: top, nodes: d.nodes, secrets: d.secrets, storeRefs: d.storeRefs}
	c.meta.nodes[""] = top

	errs := d.errs
	c.ApplyDefaults()
	found := c.validate()
	for _, e := range found {
		if !underAny(e.Path, d.errs) {
			errs = append(errs, e)
		}
	}
	return c, errs.Err()
}

// WithMore adds the errors of more that are not at or below a path es
// already reports (a consequence of a problem already listed), nor above
// one (a block that failed to compile because of the field es names, such
// as trusted_proxies for trusted_proxies[1]: the same problem again, at
// the block's line), sorted, each once.
func (es Errors) WithMore(more Errors) error {
	out := append(Errors(nil), es...)
	for _, e := range more {
		if !underAny(e.Path, es) && !aboveAny(e.Path, es) {
			out = append(out, e)
		}
	}
	return out.Err()
}

// aboveAny reports whether an error of errs is below path.
func aboveAny(path string, errs Errors) bool {
	for _, e := range errs {
		if path == "" || strings.HasPrefix(e.Path, path+".") || strings.HasPrefix(e.Path, path+"[") {
			return true
		}
	}
	return false
}

// underAny reports whether path is at or below the path of an error
// already found while decoding: validating a value that failed to decode
// would only repeat the problem.
func underAny(path string, errs Errors) bool {
	for _, e := range errs {
		p := e.Path
		if p == "" || path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses exactly one YAML document into a node tree.
func parseYAML(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: file, Msg: "the file is empty"}}
		}
		return nil, syntaxError(file, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(file, data, err)
	default:
		return nil, Errors{{File: file, Line: extra.Line, Column: extra.Column, Msg: "only one YAML document is allowed"}}
	}
	return &root, nil
}

// syntaxError positions a YAML syntax error. The parser says "line N"
// for most errors, but it leaves the line out for an error on the first
// line, and for the bytes its reader refuses (control characters, invalid
// UTF-8) wherever they are; those are found here, so every syntax error
// names its line.
func syntaxError(file string, data []byte, err error) error {
	msg := err.Error()
	e := &FieldError{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
		return Errors{e}
	}
	if line, col, ok := firstUnreadable(data); ok {
		e.Line, e.Column = line, col
	} else {
		e.Line = 1
	}
	return Errors{e}
}

// firstUnreadable finds the first byte YAML's reader refuses: invalid
// UTF-8, or a character outside YAML's printable set (YAML 1.2 section
// 5.1: tab, line breaks, printable ASCII, NEL and the Unicode ranges
// from U+00A0 without surrogates, U+FFFE and U+FFFF). Line and column are
// 1-based; the column counts characters.
func firstUnreadable(data []byte) (line, col int, ok bool) {
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		printable := r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7e) || r == 0x85 ||
			(r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd) || (r >= 0x10000 && r <= 0x10ffff)
		if (r == utf8.RuneError && n <= 1) || !printable {
			return line, col, true
		}
		i += n
		// Line breaks as YAML reads them: LF, CR LF, a lone CR, and (as the
		// parser does) NEL, LS and PS.
		switch {
		case r == '\r' && i < len(data) && data[i] == '\n':
			col++ // the LF that follows ends the line
		case r == '\n' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029:
			line, col = line+1, 1
		default:
			col++
		}
	}
	return 0, 0, false
}

// Node returns the YAML node that set the field at path (such as
// "routes[1].service"), or nil when the file did not set it.
func (c *Config) Node(path string) *yaml.Node {
	if c.meta == nil {
		return nil
	}
	return c.meta.nodes[path]
}

// Position returns the line and column of the field at path, or of its
// closest ancestor that the file sets (so a missing field points at the
// mapping it is missing from). ok is false when nothing is known. A field
// below what the loader decoded itself (inside a policy, which its kind
// decodes later) is found in the YAML below the closest decoded ancestor.
func (c *Config) Position(path string) (line, col int, ok bool) {
	if c.meta == nil {
		return 0, 0, false
	}
	for p := path; ; p = parentPath(p) {
		if n := c.meta.nodes[p]; n != nil {
			for rel := path[len(p):]; rel != ""; rel = parentPath(rel) {
				if m := walkNode(n, rel); m != nil {
					return m.Line, m.Column, true
				}
			}
			return n.Line, n.Column, true
		}
		if p == "" {
			return 0, 0, false
		}
	}
}

// ErrorAtPath makes a FieldError for the field at path, positioned as
// Position says.
func (c *Config) ErrorAtPath(path, msg string) *FieldError {
	if e := c.storeError(path, msg); e != nil {
		return e
	}
	e := &FieldError{File: c.File, Path: path, Msg: msg}
	e.Line, e.Column, _ = c.Position(path)
	return e
}

// IsSecret reports whether the value at path came from a secret reference
// (and so must never be printed).
func (c *Config) IsSecret(path string) bool {
	if c.meta == nil {
		return false
	}
	_, ok := c.meta.secrets[path]
	return ok
}

// isSet reports whether the file gives the field at path a non-null value.
func (c *Config) isSet(path string) bool {
	n := c.Node(path)
	return n != nil && !isNull(n)
}

// parentPath strips the last ".name" or "[i]" from a field path.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
