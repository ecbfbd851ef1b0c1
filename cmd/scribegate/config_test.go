package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors/connectortest"
)

// writeConfig writes body as a configuration file in a directory of its
// own and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	return writeConfigIn(t, t.TempDir(), body)
}

// writeConfigIn writes body to dir/scribegate.yaml, failing t if it
// cannot, and returns its path: for a gateway whose data dir is dir.
func writeConfigIn(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "scribegate.yaml")
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
	if cfg.Rollout.MetricsWindow != def.Rollout.MetricsWindow || len(cfg.Rollout.Groups["clinic-a"]) != 2 {
		t.Errorf("example rollout settings: %+v", cfg.Rollout)
	}
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
		{"id pattern of nowhere", "connectors: {id_patterns: {x: {patient: a}}}\n", nil, `connectors.id_patterns.x: no instance named "x"`},
		{"clinician in two pilot groups", "rollout: {groups: {c1: {a: [dr-1], b: [dr-2, dr-1]}}}\n", nil, `rollout.groups: rollout: clinic "c1": clinician "dr-1" is in pilot groups "a" and "b"`},
		{"pilot group named unassigned", "rollout: {groups: {c1: {unassigned: [dr-1]}}}\n", nil, `"unassigned" is the name of clinicians in no group`},
		{"no metrics window", "rollout: {metrics_window: 0s}\n", nil, "rollout.metrics_window must be positive"},
		{"bad id pattern", "connectors: {id_patterns: {local-files: {patient: \"(\"}}}\n", nil, "connectors.id_patterns.local-files: error parsing regexp"},
		// Production mode: a network address needs a JWKS, or says it is
		// a development gateway.
		{"dev secret on all interfaces", "listen: 0.0.0.0:8080\n", nil, `listen "0.0.0.0:8080" is not a loopback address`},
		{"dev secret on a port only", "listen: :8080\n", nil, "is not a loopback address"},
		{"dev secret on a LAN address", "", []string{"SCRIBEGATE_LISTEN=10.1.2.3:443"}, "is not a loopback address"},
		{"jwks without audience", "listen: 0.0.0.0:443\nauth: {jwks_url: https://idp.example/jwks, issuer: https://idp.example}\n", nil, "auth.issuer and auth.audience are required"},
		{"jwks without issuer", "auth: {jwks_url: https://idp.example/jwks, audience: scribegate}\n", nil, "auth.issuer and auth.audience are required"},
		// TLS and plain-HTTP upstreams.
		{"cert without key", "tls: {cert_file: c.pem}\n", nil, "tls.cert_file and tls.key_file go together"},
		{"http jwks", "auth: {jwks_url: http://idp.example/jwks, issuer: i, audience: a}\n", nil, "auth.jwks_url: http:// to a host other than loopback"},
		{"http EHR", "connectors:\n  default: ehr\n  instances: {ehr: {kind: fhir, base_url: \"http://ehr.example/fhir\"}}\n", nil, "connectors.instances.ehr.base_url: http://"},
		{"http token url", "connectors:\n  default: ehr\n  instances: {ehr: {kind: epic, base_url: \"https://e/fhir\", token_url: \"HTTP://e/token\"}}\n", nil, "connectors.instances.ehr.token_url: http://"},
		{"http openai", "transcription: {engine: openai, openai: {base_url: \"http://10.0.0.5/v1\"}}\n", nil, "transcription.openai.base_url: http://"},
		// Single sign-on.
		{"sso without public url", "sso: {oidc: {issuer: https://idp.example, client_id: sg}}\n", nil, "public_url is required with sso"},
		{"sso without client id", "public_url: https://sg.example\nsso: {oidc: {issuer: https://idp.example}}\n", nil, "sso.oidc.client_id is required"},
		{"sso beside the dev secret", "public_url: https://sg.example\nauth: {dev_secret_file: s}\nsso: {oidc: {issuer: https://idp.example, client_id: sg}}\n", nil, "the development token flow is off"},
		{"sso unknown role", "public_url: https://sg.example\nsso: {oidc: {issuer: https://idp.example, client_id: sg, role: nurse}}\n", nil, `sso.oidc.role: "nurse"`},
		{"http issuer", "public_url: https://sg.example\nsso: {oidc: {issuer: http://idp.example, client_id: sg}}\n", nil, "sso.oidc.issuer: http://"},
		{"frame ancestor with a path", "sso: {frame_ancestors: [\"https://ehr.example/app\"]}\n", nil, "sso.frame_ancestors"},
		{"frame ancestor wildcard", "sso: {frame_ancestors: [\"*\"]}\n", nil, "sso.frame_ancestors"},
		{"ehr without clinic", "public_url: https://sg.example\nsso: {ehrs: [{name: epic, fhir_base_url: https://ehr.example/fhir, client_id: x}]}\n", nil, "sso.ehrs[0]: name, fhir_base_url, client_id and clinic are required"},
		{"http ehr", "public_url: https://sg.example\nsso: {ehrs: [{name: epic, fhir_base_url: http://ehr.example/fhir, client_id: x, clinic: c}]}\n", nil, "sso.ehrs[0].fhir_base_url: http://"},
		{"unknown ehr key", "sso: {ehrs: [{name: epic, iss: x}]}\n", nil, "field iss not found"},
		{"unknown sso key", "sso: {oidc: {issuer_url: x}}\n", nil, "issuer_url"},
		// Durations take a unit, in the file and the environment alike,
		// and the error names the key.
		{"bare number duration", "streaming: {idle_timeout: 30}\n", nil, "streaming.idle_timeout: 30 has no unit: write a duration such as 30s"},
		{"bare number nested duration", "transcription: {openai: {timeout: 45}}\n", nil, "transcription.openai.timeout: 45 has no unit"},
		{"quoted bare number duration", "push: {lease: \"120\"}\n", nil, "push.lease: 120 has no unit"},
		{"bare number env duration", "", []string{"SCRIBEGATE_STREAMING_IDLE_TIMEOUT=30"}, "SCRIBEGATE_STREAMING_IDLE_TIMEOUT: 30 has no unit"},
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

// TestDurationsWithUnits: durations are written with a unit; a bare 0
// (what an operator writes for "none", as the README's defaults do) is
// zero.
func TestDurationsWithUnits(t *testing.T) {
	path := writeConfig(t, "streaming: {idle_timeout: 90s, resume_window: 0, close_grace: 1m30s}\nretention: {audio: 0, notes: 168h}\nstore: {redis_pool_timeout: 0}\n")
	cfg, err := loadConfig(path, []string{"SCRIBEGATE_PUSH_LEASE=0"})
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Streaming; s.IdleTimeout != 90*time.Second || s.ResumeWindow != 0 || s.CloseGrace != 90*time.Second {
		t.Errorf("streaming durations: %+v", s)
	}
	if r := cfg.Retention; r.Audio != 0 || r.Notes != 168*time.Hour || cfg.Store.RedisPoolTimeout != 0 || cfg.Push.Lease != 0 {
		t.Errorf("retention %+v, redis_pool_timeout %v, push.lease %v", r, cfg.Store.RedisPoolTimeout, cfg.Push.Lease)
	}
}

func TestConnectorSettingsAreStrict(t *testing.T) {
	path := writeConfig(t, "connectors:\n  default: f\n  instances:\n    f: {kind: file, dir: d, colour: blue}\n    g: {kind: file, dir: d, timeout: 30}\n")
	cfg, err := loadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Dir     string        `yaml:"dir"`
		Timeout time.Duration `yaml:"timeout"`
	}
	err = decodeStrict(cfg.Connectors.Instances["f"], &s)
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("err = %v, want unknown key colour", err)
	}
	// Durations are read as the gateway's own are: with a unit.
	err = decodeStrict(cfg.Connectors.Instances["g"], &s)
	if err == nil || !strings.Contains(err.Error(), "timeout: 30 has no unit: write a duration such as 30s") {
		t.Fatalf("err = %v, want timeout named as lacking a unit", err)
	}
}

// TestSecurityAllowances: what the production checks refuse, an explicit
// setting allows; loopback needs none.
func TestSecurityAllowances(t *testing.T) {
	for _, file := range []string{
		"listen: 0.0.0.0:8080\nauth: {insecure_dev_mode: true}\n",
		"listen: 0.0.0.0:443\nauth: {jwks_url: https://idp.example/jwks, issuer: https://idp.example, audience: scribegate}\n",
		"listen: localhost:8080\n",
		"listen: \"[::1]:8080\"\n",
		"auth: {jwks_url: http://127.0.0.1:9999/jwks, issuer: i, audience: a}\n",
		"tls: {allow_http_urls: true}\nauth: {jwks_url: http://idp.lan/jwks, issuer: i, audience: a}\n",
	} {
		if _, err := loadConfig(writeConfig(t, file), nil); err != nil {
			t.Errorf("%q: %v", file, err)
		}
	}
}

// TestInsecureSettingsAreLogged: what the checks allow but weakens the
// gateway is a warning at every start, the inline token included.
func TestInsecureSettingsAreLogged(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, `
listen: 0.0.0.0:8080
auth: {insecure_dev_mode: true}
connectors:
  default: ehr
  instances: {ehr: {kind: fhir, base_url: "https://ehr.example/fhir", token: abc}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	cfg.warnInsecure(slog.New(slog.NewTextHandler(&buf, nil)))
	for _, want := range []string{"DEVELOPMENT MODE", "plain HTTP on a network address", "token sits inline", "connector=ehr"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "abc") {
		t.Error("the log shows the token")
	}
}

// TestEncryptionKeysFailClosed: a configured key source that is missing,
// empty or malformed stops the gateway rather than store in the clear.
func TestEncryptionKeysFailClosed(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	bad := connectortest.SecretFile(t, "k1:short\n")
	good := connectortest.SecretFile(t, "k2:"+strings.Repeat("A", 43)+"\nk1:"+strings.Repeat("B", 43)+"\n")
	t.Setenv("SG_TEST_KEYS_EMPTY", "")
	for _, c := range []EncryptionConfig{
		{KeysFile: filepath.Join(t.TempDir(), "missing")},
		{KeysFile: bad},
		{KeysEnv: "SG_TEST_KEYS_EMPTY"},
		{KeysFile: good, KeysEnv: "SG_TEST_KEYS_EMPTY"},
	} {
		if r, err := loadKeys(c, log); err == nil {
			t.Errorf("%+v: loaded %v", c, r)
		}
	}
	r, err := loadKeys(EncryptionConfig{KeysFile: good}, log)
	if err != nil || r.Current() != "k2" {
		t.Errorf("good file: %v %v", r.Current(), err)
	}
	if r, err := loadKeys(EncryptionConfig{}, log); r != nil || err != nil {
		t.Errorf("none configured: %v %v", r, err)
	}
}
