package connectors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeSettings decodes a connector instance's YAML settings (its mapping
// in the configuration file) into v, refusing unknown keys. The "kind" key
// is the registry's and is skipped. It is what the gateway's Config.Decode
// does, shared so that a connector's tests decode settings exactly as the
// gateway will (connectortest.Config).
func DecodeSettings(n yaml.Node, v any) error {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = *n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return errors.New("settings must be a mapping")
	}
	trimmed := n
	trimmed.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" {
			continue
		}
		trimmed.Content = append(trimmed.Content, n.Content[i], n.Content[i+1])
	}
	raw, err := yaml.Marshal(&trimmed)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return namedErrors(raw, te)
		}
		return err
	}
	return nil
}

// namedErrors rewrites yaml's "line N: cannot unmarshal …" errors, whose
// line numbers are those of the re-encoded settings and so mean nothing to
// the operator, to name the setting instead ("timeout: cannot unmarshal …").
func namedErrors(raw []byte, te *yaml.TypeError) error {
	keys := map[int]string{}
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) == nil {
		keyLines(&doc, "", keys)
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		var line int
		if _, err := fmt.Sscanf(m, "line %d:", &line); err != nil {
			continue
		}
		if k, ok := keys[line]; ok {
			msgs[i] = k + ":" + strings.TrimPrefix(m, fmt.Sprintf("line %d:", line))
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// keyLines maps the line of every mapping value under n to its dotted key.
func keyLines(n *yaml.Node, prefix string, keys map[int]string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			keyLines(c, prefix, keys)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := prefix + n.Content[i].Value
			keys[n.Content[i+1].Line] = k
			keyLines(n.Content[i+1], k+".", keys)
		}
	}
}

// SettingsKind returns the "kind" key of an instance's settings.
func SettingsKind(n yaml.Node) (string, error) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = *n.Content[0]
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" {
			return n.Content[i+1].Value, nil
		}
	}
	return "", fmt.Errorf(`missing "kind"`)
}
