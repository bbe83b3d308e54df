package response

import (
	"fmt"
	"strings"
)

// A field path names members of a JSON document:
//
//	user.password      member "password" of member "user" of the root object
//	items[].secret     member "secret" of every element of the array "items"
//	[].id              member "id" of every element of a root array
//	matrix[][]         every element of every element of "matrix"
//
// A path is a sequence of steps: a member name (any characters but '.',
// '[' and ']'; names are separated by '.') or "[]" (each array element).
// Names are compared with the document's member names after their JSON
// escapes are decoded, so "pass\u0077ord" is "password".

// node is one step of the compiled path tree. A path tree is built once at
// load time and only read afterwards.
type node struct {
	keys []child // object members named by a path
	elem *node   // "[]": every element of an array
	leaf bool    // a path ends here: the whole value is named
}

type child struct {
	name []byte
	n    *node
}

const maxPathLen = 1024

// parsePath splits a path into its steps; "" stands for "[]".
func parsePath(p string) ([]string, error) {
	if p == "" {
		return nil, fmt.Errorf("empty field path")
	}
	if len(p) > maxPathLen {
		return nil, fmt.Errorf("field path longer than %d characters", maxPathLen)
	}
	var steps []string
	i := 0
	for i < len(p) {
		switch {
		case strings.HasPrefix(p[i:], "[]"):
			steps = append(steps, "")
			i += 2
		case p[i] == '.':
			if len(steps) == 0 {
				return nil, fmt.Errorf("field path %q: starts with '.'", p)
			}
			i++
			j := nameEnd(p, i)
			if j == i {
				return nil, fmt.Errorf("field path %q: empty member name at offset %d", p, i)
			}
			steps = append(steps, p[i:j])
			i = j
		default:
			if len(steps) > 0 {
				return nil, fmt.Errorf("field path %q: expected '.' or \"[]\" at offset %d", p, i)
			}
			j := nameEnd(p, i)
			if j == i {
				return nil, fmt.Errorf("field path %q: unexpected %q at offset %d", p, p[i], i)
			}
			steps = append(steps, p[i:j])
			i = j
		}
	}
	return steps, nil
}

// nameEnd returns the end of the member name starting at i.
func nameEnd(p string, i int) int {
	for i < len(p) && p[i] != '.' && p[i] != '[' && p[i] != ']' {
		i++
	}
	return i
}

// buildTree compiles paths into one tree. A path that is a prefix of
// another wins: naming "user" names all of it.
func buildTree(paths []string) (*node, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("at least one field path is required")
	}
	root := &node{}
	for _, p := range paths {
		steps, err := parsePath(p)
		if err != nil {
			return nil, err
		}
		n := root
		for _, s := range steps {
			if s == "" {
				if n.elem == nil {
					n.elem = &node{}
				}
				n = n.elem
				continue
			}
			var next *node
			for _, c := range n.keys {
				if string(c.name) == s {
					next = c.n
					break
				}
			}
			if next == nil {
				next = &node{}
				n.keys = append(n.keys, child{name: []byte(s), n: next})
			}
			n = next
		}
		n.leaf = true
	}
	return root, nil
}
