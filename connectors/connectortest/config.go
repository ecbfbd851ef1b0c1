package connectortest

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scribegate/scribegate/connectors"
)

// Config is the connectors.Config the gateway hands a connector's Factory
// for an instance configured with settings, a YAML mapping as it appears
// under connectors.instances.<name> in the configuration file (with or
// without its "kind" key). Decode is strict exactly as the gateway's
// (connectors.DecodeSettings), so a test that opens its connector through
// connectors.Open with this Config proves the settings an operator would
// write; StateDir is a fresh temporary directory.
func Config(t testing.TB, name, settings string) connectors.Config {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(settings), &node); err != nil {
		t.Fatalf("connectortest: settings are not YAML: %v", err)
	}
	return connectors.Config{
		Name:     name,
		Decode:   func(v any) error { return connectors.DecodeSettings(node, v) },
		Logger:   slog.New(slog.DiscardHandler),
		StateDir: t.TempDir(),
	}
}

// SecretFile writes secret to a file only its owner may read, in a fresh
// temporary directory, and returns its path: connectors take secrets and
// keys as files (client_secret_file, private_key_file, …), as an operator
// mounts them, never inline.
func SecretFile(t testing.TB, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
