package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsNeedNothing(t *testing.T) {
	cfg, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Transcription.Engine != "sphinx" || cfg.Drafting.Drafter != "rules" || cfg.Store.Driver != "sqlite" {
		t.Errorf("defaults are not the offline single-machine set-up: %+v", cfg)
	}
	kind, err := instanceKind(cfg.Connectors.Instances[cfg.Connectors.Default])
	if err != nil || kind != "file" {
		t.Errorf("default connector kind %q (%v), want file", kind, err)
	}
	if cfg.Store.Path != filepath.Join("var", "scribegate.db") || cfg.Auth.DevSecretFile != filepath.Join("var", "dev-secret") {
		t.Errorf("derived paths: %q %q", cfg.Store.Path, cfg.Auth.DevSecretFile)
	}
}

// The example file documents every key; it must load and mean the defaults.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := loadConfig("scribegate.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := loadConfig("", nil)
	if cfg.Streaming != def.Streaming || cfg.Push != def.Push || cfg.Transcription != def.Transcription || cfg.HTTP != def.HTTP {
		t.Errorf("example differs from the defaults:\n%+v\n%+v", cfg, def)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, file string
		env        []string
		want       string
	}{
		{"unknown key", "listen: x\nlistne: y\n", nil, "field listne not found"},
		{"unknown nested key", "streaming: {idle_timeot: 1s}\n", nil, "idle_timeot"},
		{"bad engine", "transcription: {engine: whisperx}\n", nil, `"whisperx" is not one of`},
		{"unknown env", "", []string{"SCRIBEGATE_STREAMING_IDLE_TIMOUT=1s"}, "unknown environment variable SCRIBEGATE_STREAMING_IDLE_TIMOUT"},
		{"bad env duration", "", []string{"SCRIBEGATE_STREAMING_IDLE_TIMEOUT=soon"}, "SCRIBEGATE_STREAMING_IDLE_TIMEOUT"},
		{"live draft share above 1", "streaming: {live_draft_share: 1.5}\n", nil, "streaming.live_draft_share: 1.5 is not in (0, 1]"},
		{"bad env share", "", []string{"SCRIBEGATE_STREAMING_LIVE_DRAFT_SHARE=half"}, "SCRIBEGATE_STREAMING_LIVE_DRAFT_SHARE"},
		{"route to nowhere", "connectors: {clinics: {c1: nope}}\n", nil, `no instance named "nope"`},
		{"default to nowhere", "connectors:\n  default: x\n  instances: {y: {kind: file, dir: d}}\n", nil, `connectors.default: no instance named "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			_, err := loadConfig(path, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	path := writeConfig(t, "streaming: {idle_timeout: 10s}\ndrafting: {deidentify: false}\n")
	cfg, err := loadConfig(path, []string{
		"SCRIBEGATE_STREAMING_IDLE_TIMEOUT=90s",
		"SCRIBEGATE_DRAFTING_DEIDENTIFY=true",
		"SCRIBEGATE_PUSH_WORKERS=5",
		"SCRIBEGATE_STREAMING_LIVE_DRAFT_SHARE=0.5",
		"SCRIBEGATE_CONFIG=ignored.yaml",
		"HOME=/root",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Streaming.IdleTimeout != 90*time.Second || !cfg.Drafting.Deidentify || cfg.Push.Workers != 5 || cfg.Streaming.LiveDraftShare != 0.5 {
		t.Errorf("overrides not applied: %+v %+v %+v", cfg.Streaming, cfg.Drafting, cfg.Push)
	}
}

func TestConnectorSettingsAreStrict(t *testing.T) {
	path := writeConfig(t, "connectors:\n  default: f\n  instances:\n    f: {kind: file, dir: d, colour: blue}\n")
	cfg, err := loadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Dir string `yaml:"dir"`
	}
	err = decodeStrict(cfg.Connectors.Instances["f"], &s)
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("err = %v, want unknown key colour", err)
	}
}
