package connectors

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/scribegate/scribegate/connectors/strictyaml"
)

// DecodeSettings decodes a connector instance's YAML settings (its mapping
// in the configuration file) into v as the gateway's own configuration is
// decoded (package strictyaml): unknown keys refused, errors naming the
// setting, durations with a unit. The "kind" key is the registry's and is
// skipped. It is what the gateway's Config.Decode does, shared so that a connector's tests decode settings exactly as the
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
	return strictyaml.Decode(raw, v)
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
