package config

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// secretKeys are the field names whose values are secrets, or digests of
// secrets, wherever they appear (policy settings included).
var secretKeys = map[string]bool{
	"secret": true, "secrets": true, "password": true, "password_hash": true, "hash": true,
	"master_key": true, "previous_master_keys": true, "signing_key": true, "dsn": true,
	"client_secret": true, "token": true, "private_key": true, "api_key": true,
}

// RedactedMark replaces a secret value in a redacted rendering.
const RedactedMark = "[redacted]"

// RedactYAML renders a config file's bytes with every secret value
// replaced by RedactedMark, for the config history's listings and diffs.
// A secret reference (${env:NAME}, ${file:/path}) is kept: it names where
// the secret is, not the secret. Comments and layout are kept as far as
// the YAML encoder keeps them.
func RedactYAML(data []byte) (string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return "", fmt.Errorf("config: the YAML does not parse: %w", err)
	}
	redactNode(&root, false)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return "", err
	}
	_ = enc.Close()
	return b.String(), nil
}

func redactNode(n *yaml.Node, secret bool) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c, secret)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			redactNode(v, secret || secretKeys[strings.ToLower(k.Value)])
		}
	case yaml.AliasNode:
		// An alias repeats a node redacted where it is defined.
	case yaml.ScalarNode:
		if secret && !isSecretRef(n.Value) && n.Tag != "!!null" {
			n.Value, n.Tag, n.Style = RedactedMark, "!!str", 0
		}
	}
}

func isSecretRef(s string) bool {
	return (strings.HasPrefix(s, "${env:") || strings.HasPrefix(s, "${file:")) && strings.HasSuffix(s, "}")
}
