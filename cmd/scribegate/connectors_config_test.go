package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/mllp"
	"github.com/scribegate/scribegate/connectors/webhook"
)

// TestMLLPAndWebhookFromYAML: the two kinds are registered and configured
// from the one YAML file, strictly.
func TestMLLPAndWebhookFromYAML(t *testing.T) {
	secret := connectortest.SecretFile(t, strings.Repeat("s", 40))
	path := writeConfig(t, `connectors:
  default: engine
  instances:
    engine:
      kind: mllp
      address: 127.0.0.1:2575
      receiving_application: EMR
      patient_id_authority: HOSP-MRN
      ack_timeout: 5s
    hook:
      kind: webhook
      url: https://integrator.example/notes
      secret_file: `+secret+`
      headers: {X-Tenant: clinic-a}
`)
	cfg, err := loadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	conns, err := openConnectors(context.Background(), cfg.Connectors, t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := conns["engine"].(*mllp.Connector); !ok {
		t.Errorf("engine is %T, want *mllp.Connector", conns["engine"])
	}
	if _, ok := conns["hook"].(*webhook.Connector); !ok {
		t.Errorf("hook is %T, want *webhook.Connector", conns["hook"])
	}

	path = writeConfig(t, "connectors:\n  default: engine\n  instances:\n    engine: {kind: mllp, adress: 127.0.0.1:2575}\n")
	if cfg, err = loadConfig(path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := openConnectors(context.Background(), cfg.Connectors, t.TempDir(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "adress") {
		t.Errorf("a misspelt mllp key: %v, want it named", err)
	}
}
