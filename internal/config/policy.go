package config

import (
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// UnmarshalYAML keeps the policy mapping for the kind's compiler; only the
// kind is read here. Which kinds exist is the gateway's business.
func (p *PolicySpec) UnmarshalYAML(n *yaml.Node) error {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return &nodeError{node: n, msg: `a policy must be a mapping with a "kind"`}
	}
	kind := findKey(n, "kind", 0)
	if kind == nil {
		return &nodeError{node: n, sub: "kind", msg: `a policy needs a "kind"`}
	}
	if kind.Kind != yaml.ScalarNode || kind.ShortTag() != "!!str" || kind.Value == "" {
		return &nodeError{node: kind, sub: "kind", msg: "kind must be a non-empty string"}
	}
	p.Kind, p.Node = kind.Value, n
	return nil
}

// findKey finds the value of key in a mapping, looking into "<<" merges
// when the mapping does not set it itself.
func findKey(n *yaml.Node, key string, depth int) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && depth < maxDepth {
		n, depth = n.Alias, depth+1
	}
	if n == nil || depth >= maxDepth {
		return nil
	}
	var merges []*yaml.Node
	switch n.Kind {
	case yaml.SequenceNode: // a list of merged mappings
		merges = n.Content
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				merges = append(merges, n.Content[i+1])
			} else if k.Kind == yaml.ScalarNode && k.Value == key {
				return n.Content[i+1]
			}
		}
	}
	for _, m := range merges {
		if v := findKey(m, key, depth+1); v != nil {
			return v
		}
	}
	return nil
}

// MarshalYAML writes the policy mapping back as it was.
func (p PolicySpec) MarshalYAML() (any, error) { return p.Node, nil }

// NodeDecoder decodes one policy mapping into a policy's own config struct,
// with the same strictness as the rest of the file: unknown fields and type
// errors are errors at their line and column in File, secret references
// are expanded, and the "kind" key is skipped. It implements
// pipeline.Decoder; Decode returns an Errors.
type NodeDecoder struct {
	File string
	Node *yaml.Node
	// Path prefixes the field paths in errors (routes[0].policies[1]).
	Path string
}

// PolicyDecoder returns the decoder for one of this config's policies.
func (c *Config) PolicyDecoder(p PolicySpec) NodeDecoder {
	return NodeDecoder{File: c.File, Node: p.Node, Path: p.Path}
}

// Decode fills v, a non-nil pointer, from the policy mapping.
func (nd NodeDecoder) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: NodeDecoder.Decode needs a non-nil pointer, got %T", v)
	}
	if nd.Node == nil {
		return &FieldError{File: nd.File, Path: nd.Path, Msg: "no policy to decode"}
	}
	d := newDecoder(nd.File, nd.Node)
	n := nd.Node
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	d.skipKind = n
	d.decode(nd.Node, nd.Path, rv.Elem())
	return d.errs.Err()
}
