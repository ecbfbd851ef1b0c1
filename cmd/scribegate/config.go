package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/strictyaml"
	"github.com/scribegate/scribegate/gateway/patientid"
	"github.com/scribegate/scribegate/review/rollout"
)

// Config is the whole gateway configuration: one YAML file (see
// scribegate.example.yaml and the README) plus SCRIBEGATE_* environment
// overrides. Every field has a default that gives a working single-machine
// gateway with nothing else installed.
type Config struct {
	// Listen is the address the gateway serves on.
	Listen string `yaml:"listen"`
	// PublicURL is how clients reach the gateway; used in review links.
	PublicURL string `yaml:"public_url"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// DataDir holds the embedded store, the development secret and, with
	// the default connector, the pushed documents.
	DataDir string `yaml:"data_dir"`

	HTTP          HTTPConfig          `yaml:"http"`
	TLS           TLSConfig           `yaml:"tls"`
	Encryption    EncryptionConfig    `yaml:"encryption"`
	Auth          AuthConfig          `yaml:"auth"`
	SSO           SSOConfig           `yaml:"sso"`
	Transcription TranscriptionConfig `yaml:"transcription"`
	Drafting      DraftingConfig      `yaml:"drafting"`
	Streaming     StreamingConfig     `yaml:"streaming"`
	Store         StoreConfig         `yaml:"store"`
	Push          PushConfig          `yaml:"push"`
	Retention     RetentionConfig     `yaml:"retention"`
	Connectors    ConnectorsConfig    `yaml:"connectors"`
	Rollout       RolloutConfig       `yaml:"rollout"`
}

// HTTPConfig bounds what a connection may hold of the gateway before it
// has sent a request: a client that opens connections and sends nothing,
// or trickles its headers or body, is cut off after these. WebSocket
// sessions and event streams, once accepted, are not subject to them.
type HTTPConfig struct {
	// ReadHeaderTimeout: a request's headers must arrive within this.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout: the whole request, body included, within this.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// IdleTimeout: a keep-alive connection waits this long for its next
	// request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// EncryptionConfig names where the keys that seal the store's note bodies,
// transcripts and audit entries at rest come from (package sealed): a
// file, or an environment variable, holding "id:base64key" entries, the
// newest first. Neither: stored as given.
type EncryptionConfig struct {
	KeysFile string `yaml:"keys_file"`
	KeysEnv  string `yaml:"keys_env"`
}

// TLSConfig serves HTTPS and guards the gateway's own outbound URLs.
type TLSConfig struct {
	// CertFile and KeyFile (PEM) make the gateway serve HTTPS. Both files
	// are read again when either changes, so a renewed certificate needs
	// no restart.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// AllowHTTPURLs permits http:// URLs to hosts other than loopback for
	// the identity provider, the EHRs and OpenAI-compatible servers
	// (development only: tokens and PHI would cross the network in the
	// clear).
	AllowHTTPURLs bool `yaml:"allow_http_urls"`
}

// AuthConfig chooses how bearer tokens are verified.
type AuthConfig struct {
	// JWKSURL is the clinic identity provider's key set; when set, tokens
	// must be signed by one of its keys (production).
	JWKSURL string `yaml:"jwks_url"`
	// DevSecretFile holds the HS256 secret used when no JWKS URL is set
	// (development only). It is created with a random secret if missing.
	DevSecretFile string `yaml:"dev_secret_file"`
	// Issuer and Audience are checked when set; both are required with
	// JWKSURL, so a token the provider issued for another application is
	// refused.
	Issuer   string `yaml:"issuer"`
	Audience string `yaml:"audience"`
	// InsecureDevMode lets the development secret serve on an address
	// other than loopback (logged loudly at start). Without it, or a
	// JWKSURL, such a gateway refuses to start.
	InsecureDevMode bool `yaml:"insecure_dev_mode"`
}

// SSOConfig signs clinicians in to the web UI with their organisation's
// identity (OpenID Connect) and lets EHRs launch it (SMART App Launch);
// docs/sso.md is the integrator's guide. Either needs public_url, the
// origin the redirect URIs are registered under.
type SSOConfig struct {
	// SessionTTL is how long a sign-in lasts (8h).
	SessionTTL time.Duration `yaml:"session_ttl"`
	// FrameAncestors are the origins allowed to frame the web UI (EHRs
	// that embed apps), such as https://ehr.example.org; none denies
	// framing.
	FrameAncestors []string   `yaml:"frame_ancestors"`
	OIDC           OIDCConfig `yaml:"oidc"`
	// EHRs may launch the web UI from a patient's chart (SMART App
	// Launch 2.x); a launch from any other FHIR server is refused.
	EHRs []EHRLaunchConfig `yaml:"ehrs"`
}

// EHRLaunchConfig is the app's registration at one EHR.
type EHRLaunchConfig struct {
	Name string `yaml:"name"`
	// FHIRBaseURL is the EHR's FHIR base URL, the iss of its launches.
	FHIRBaseURL string `yaml:"fhir_base_url"`
	ClientID    string `yaml:"client_id"`
	// ClientSecretFile or ClientSecretEnv: a confidential client's
	// secret; neither: a public client (PKCE only).
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// Clinic is the clinic of the clinicians this EHR signs in.
	Clinic string `yaml:"clinic"`
	// Scopes asked for (launch openid fhirUser patient/Patient.r
	// patient/Encounter.r when empty).
	Scopes []string `yaml:"scopes"`
}

// OIDCConfig is the gateway's client at the organisation's OpenID
// provider. With an issuer set, the web UI signs in there, the
// development token flow is off, and bearer tokens are verified with the
// provider's keys (issuer, audience client_id) unless auth.jwks_url says
// otherwise.
type OIDCConfig struct {
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecretFile or ClientSecretEnv holds the client secret, so the
	// secret itself never sits in this file.
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// Scopes asked for besides openid (profile and email when empty).
	Scopes []string `yaml:"scopes"`
	// Claims name the claims holding the clinician's id, name, clinic and
	// role (sub, name, clinic, role).
	Claims ClaimsConfig `yaml:"claims"`
	// Clinic and Role apply to users whose tokens carry no clinic or role
	// claim; empty: the claim is required.
	Clinic string `yaml:"clinic"`
	Role   string `yaml:"role"`
}

// ClaimsConfig names ID token claims.
type ClaimsConfig struct {
	Subject string `yaml:"subject"`
	Name    string `yaml:"name"`
	Clinic  string `yaml:"clinic"`
	Role    string `yaml:"role"`
}

// OpenAIConfig points at an OpenAI-compatible server.
type OpenAIConfig struct {
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the environment variable holding the key, so the key
	// itself never sits in the file.
	APIKeyEnv string        `yaml:"api_key_env"`
	Model     string        `yaml:"model"`
	Timeout   time.Duration `yaml:"timeout"`
}

// APIKey returns the key from the configured environment variable.
func (c OpenAIConfig) APIKey() string { return os.Getenv(c.APIKeyEnv) }

// TranscriptionConfig chooses the speech-to-text engine.
type TranscriptionConfig struct {
	// Engine is "sphinx" (offline, the default) or "openai".
	Engine string       `yaml:"engine"`
	OpenAI OpenAIConfig `yaml:"openai"`
	Sphinx SphinxConfig `yaml:"sphinx"`
	// Language is the default when a session names none.
	Language string `yaml:"language"`
	// MaxConcurrent bounds the engine's calls in flight across every
	// session (transcription.Limit); 0 means the engine's default: 8 for
	// openai, sphinx.decoders for sphinx; negative means no bound.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// SphinxConfig configures the offline PocketSphinx engine.
type SphinxConfig struct {
	// ModelDir is the acoustic model directory; empty means Debian's
	// pocketsphinx-en-us package location.
	ModelDir string `yaml:"model_dir"`
	// Decoders is how many utterances are recognised at once.
	Decoders int `yaml:"decoders"`
}

// DraftingConfig chooses the note drafter and templates.
type DraftingConfig struct {
	// Drafter is "rules" (offline, the default) or "openai".
	Drafter string       `yaml:"drafter"`
	OpenAI  OpenAIConfig `yaml:"openai"`
	// Deidentify replaces names, dates and identifiers with placeholders
	// before text leaves for the LLM.
	Deidentify bool `yaml:"deidentify"`
	// DeidentifyClinics overrides Deidentify per clinic id, for clinics
	// whose agreements with the LLM provider differ.
	DeidentifyClinics map[string]bool `yaml:"deidentify_clinics"`
	// TemplatesDir holds custom templates (YAML, one per file), added to
	// the built-ins; one with a built-in's id replaces it.
	TemplatesDir string `yaml:"templates_dir"`
	// ClinicTemplates and ClinicianTemplates name the template a session
	// that names none drafts with; a clinician's wins over the clinic's,
	// and "soap" is the fallback.
	ClinicTemplates    map[string]string `yaml:"clinic_templates"`
	ClinicianTemplates map[string]string `yaml:"clinician_templates"`
}

// StreamingConfig bounds streaming sessions.
type StreamingConfig struct {
	MaxFrameBytes int           `yaml:"max_frame_bytes"`
	IdleTimeout   time.Duration `yaml:"idle_timeout"`
	MaxSession    time.Duration `yaml:"max_session"`
	// Endpointing is the default silence that ends an utterance.
	Endpointing time.Duration `yaml:"endpointing"`
	// InterimInterval is the new speech between interim results (clients
	// that ask with interim_results=true); each re-sends the utterance so
	// far to the engine.
	InterimInterval time.Duration `yaml:"interim_interval"`
	// LiveDraftInterval rate-limits the drafts sent during a session;
	// negative turns live drafts off.
	LiveDraftInterval time.Duration `yaml:"live_draft_interval"`
	// LiveDrafter is "rules" (the offline drafter, free) or "configured"
	// (drafting.drafter, which may be a paid LLM called every interval).
	LiveDrafter string `yaml:"live_drafter"`
	// LiveDraftShare is the share of the gateway's CPUs live drafts may
	// take between all sessions (0 < share <= 1); once it is spent, live
	// drafts come less often.
	LiveDraftShare float64 `yaml:"live_draft_share"`
	// ResumeWindow is how long a session whose client vanished waits for
	// it to resume before it is finished; 0 finishes it at once.
	ResumeWindow time.Duration `yaml:"resume_window"`
	// CloseGrace is how long, within ResumeWindow, a session waits for a
	// client that closed its socket without CloseStream; 0 finishes it
	// at once.
	CloseGrace time.Duration `yaml:"close_grace"`
	// MaxSessions and MaxSessionsPerClinician bound the sessions held at
	// once (0: no bound).
	MaxSessions             int `yaml:"max_sessions"`
	MaxSessionsPerClinician int `yaml:"max_sessions_per_clinician"`
	// DurableInterval is the longest audio waits before it is stored and
	// acknowledged with a Durable message; every session's audio is stored
	// in one batch (group commit), so a short interval costs little.
	DurableInterval time.Duration `yaml:"durable_interval"`
	// TranscriptSaveInterval is how often, at most, a session appends its
	// final utterances to the note's transcript log, which spares a
	// restarted gateway transcribing them again (0: each as it comes).
	TranscriptSaveInterval time.Duration `yaml:"transcript_save_interval"`
	// MaxUnstored is how much of a session's audio (in seconds of it) may
	// wait in memory for the audio store; past it the client's frames wait
	// in the socket, and a store that takes none for 10s has the client
	// told (audio_not_stored) and the session wait for it to resume.
	MaxUnstored time.Duration `yaml:"max_unstored"`
	// OrphanScanInterval is how often a gateway on a shared (Redis)
	// store looks for sessions left recording or drafting by an instance
	// that died and finishes them; negative: only at start.
	OrphanScanInterval time.Duration `yaml:"orphan_scan_interval"`
}

// StoreConfig chooses where notes live.
type StoreConfig struct {
	// Driver is "sqlite" (embedded single file, the default) or "redis"
	// (several gateway instances sharing one queue).
	Driver string `yaml:"driver"`
	// Path is the SQLite file; empty means DataDir/scribegate.db.
	Path string `yaml:"path"`
	// RedisURL is the Redis server for the redis driver
	// (redis://host:port/db), or the Sentinels that name it
	// (redis+sentinel://host:port/db?master_name=NAME). The server must
	// run with maxmemory-policy noeviction.
	RedisURL string `yaml:"redis_url"`
	// RedisMasterName makes redis_url's hosts Sentinels naming this
	// primary (as master_name in the URL does).
	RedisMasterName string `yaml:"redis_master_name"`
	// RedisReplicas is how many replicas must confirm (WAIT) a note's
	// change or a batch of audio before it is acknowledged: an approval's
	// 200, a Durable. 0 acknowledges what the primary holds, which a
	// failover may lose.
	RedisReplicas int `yaml:"redis_replicas"`
	// RedisReplicaTimeout bounds that wait; past it the approval is
	// answered 503 store_unavailable and the audio is not acknowledged.
	RedisReplicaTimeout time.Duration `yaml:"redis_replica_timeout"`
	// RedisPoolSize is the most connections a gateway holds to the Redis
	// primary; 0 derives it from streaming.max_sessions (see
	// Config.redisPoolSize). Connections open as they are needed.
	RedisPoolSize int `yaml:"redis_pool_size"`
	// RedisPoolTimeout is how long a store call waits for a free
	// connection before it fails (503 store_unavailable); 0: 4s.
	RedisPoolTimeout time.Duration `yaml:"redis_pool_timeout"`
}

// redisPoolSize is store.redis_pool_size, or when 0 one connection for
// every 8 sessions streaming.max_sessions allows, and no fewer than
// go-redis's default of 10 per CPU. With store.redis_replicas every write
// holds its connection for a round trip to a replica as well, and when an
// instance dies its sessions resume on the others at once, each claiming
// its lease, reading its note and transcript and writing: 20 connections
// (the default on 2 CPUs) queued them for seconds under load and failed
// them with pool timeouts.
func (c Config) redisPoolSize() int {
	if c.Store.RedisPoolSize > 0 {
		return c.Store.RedisPoolSize
	}
	return max(10*runtime.GOMAXPROCS(0), c.Streaming.MaxSessions/8)
}

// RetentionConfig is how long consultations' traces are kept (a purge in
// every gateway process applies it).
type RetentionConfig struct {
	// Audio: kept this long after its note is pushed or rejected; 0
	// deletes it at the next purge, negative keeps it for ever.
	Audio time.Duration `yaml:"audio"`
	// Notes: closed notes kept this long after their last change; 0 for
	// ever.
	Notes time.Duration `yaml:"notes"`
	// Audit: audit entries kept this long; 0 for ever.
	Audit time.Duration `yaml:"audit"`
	// Interval between purges.
	Interval time.Duration `yaml:"interval"`
}

// RolloutConfig sets up the rollout figures (GET /v1/metrics/rollout,
// the web UI's rollout page and the scribegate_rollout_* metrics).
type RolloutConfig struct {
	// Groups: clinic id -> pilot group -> clinician ids (JWT sub), so a
	// phased rollout compares its groups; a clinician in none is
	// "unassigned". The metrics cover the clinics listed here.
	Groups map[string]map[string][]string `yaml:"groups"`
	// MetricsWindow: the trailing window the metrics are computed over.
	MetricsWindow time.Duration `yaml:"metrics_window"`
}

// PushConfig tunes the push worker.
type PushConfig struct {
	Workers     int           `yaml:"workers"`
	MaxAttempts int           `yaml:"max_attempts"`
	BaseBackoff time.Duration `yaml:"base_backoff"`
	MaxBackoff  time.Duration `yaml:"max_backoff"`
	Lease       time.Duration `yaml:"lease"`
}

// ConnectorsConfig names the EHR connector instances and routes clinics to
// them.
type ConnectorsConfig struct {
	// Default is the instance for clinics without a route.
	Default string `yaml:"default"`
	// Clinics maps a clinic id to an instance name.
	Clinics map[string]string `yaml:"clinics"`
	// Instances maps an instance name to its settings: "kind" names the
	// connector kind, every other key belongs to that kind.
	Instances map[string]yaml.Node `yaml:"instances"`
	// IDPatterns maps an instance name to the shapes of its patient and
	// encounter ids where they are not FHIR ids (an MRN or visit number
	// sent as an identifier in the instance's identifier system).
	IDPatterns map[string]IDPatternConfig `yaml:"id_patterns"`
}

// IDPatternConfig holds regular expressions (RE2) a whole id must match;
// empty keeps the FHIR id grammar.
type IDPatternConfig struct {
	Patient   string `yaml:"patient"`
	Encounter string `yaml:"encounter"`
}

// compile returns the patterns anchored to the whole id.
func (c IDPatternConfig) compile() (patientid.Patterns, error) {
	var p patientid.Patterns
	for _, f := range []struct {
		src string
		re  **regexp.Regexp
	}{{c.Patient, &p.Patient}, {c.Encounter, &p.Encounter}} {
		if f.src == "" {
			continue
		}
		re, err := regexp.Compile(`^(?:` + f.src + `)$`)
		if err != nil {
			return p, err
		}
		*f.re = re
	}
	return p, nil
}

// route is the connector instance a clinic's notes are filed with: its
// route, else the default.
func (c ConnectorsConfig) route(clinic string) string {
	if inst, ok := c.Clinics[clinic]; ok {
		return inst
	}
	return c.Default
}

// defaultConfig is the embedded default: one machine, offline engine and
// drafter, SQLite store, documents written to a folder.
func defaultConfig() Config {
	return Config{
		Listen:   "127.0.0.1:8080",
		LogLevel: "info",
		DataDir:  "var",
		HTTP:     HTTPConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute},
		SSO:      SSOConfig{SessionTTL: 8 * time.Hour},
		Transcription: TranscriptionConfig{
			Engine:   "sphinx",
			OpenAI:   OpenAIConfig{BaseURL: "https://api.openai.com/v1", APIKeyEnv: "OPENAI_API_KEY", Model: "whisper-1", Timeout: 30 * time.Second},
			Sphinx:   SphinxConfig{Decoders: 2},
			Language: "en",
		},
		Drafting: DraftingConfig{
			Drafter: "rules",
			OpenAI:  OpenAIConfig{BaseURL: "https://api.openai.com/v1", APIKeyEnv: "OPENAI_API_KEY", Model: "gpt-4o-mini", Timeout: 60 * time.Second},
		},
		Streaming: StreamingConfig{
			MaxFrameBytes: 256 << 10,
			IdleTimeout:   60 * time.Second,
			MaxSession:    3 * time.Hour,
			Endpointing:   500 * time.Millisecond,

			InterimInterval:   time.Second,
			LiveDraftInterval: 5 * time.Second,
			LiveDrafter:       "rules",
			LiveDraftShare:    0.25,

			ResumeWindow:            2 * time.Minute,
			CloseGrace:              10 * time.Second,
			MaxSessions:             2000,
			MaxSessionsPerClinician: 4,
			DurableInterval:         10 * time.Millisecond,
			TranscriptSaveInterval:  10 * time.Second,
			MaxUnstored:             30 * time.Second,
			OrphanScanInterval:      time.Minute,
		},
		Store: StoreConfig{Driver: "sqlite", RedisReplicaTimeout: time.Second},
		Push: PushConfig{
			Workers:     2,
			MaxAttempts: 8,
			BaseBackoff: 2 * time.Second,
			MaxBackoff:  5 * time.Minute,
			Lease:       2 * time.Minute,
		},
		Retention: RetentionConfig{Interval: time.Minute},
		Rollout:   RolloutConfig{MetricsWindow: 30 * 24 * time.Hour},
	}
}

// defaultConnectors is the connector section used when the file names no
// instances: every note goes to a folder under DataDir.
func defaultConnectors(dataDir string) (ConnectorsConfig, error) {
	var n yaml.Node
	src := fmt.Sprintf("kind: file\ndir: %q\n", filepath.Join(dataDir, "documents"))
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		return ConnectorsConfig{}, err
	}
	return ConnectorsConfig{Default: "local-files", Instances: map[string]yaml.Node{"local-files": *n.Content[0]}}, nil
}

// loadConfig reads path (empty: defaults only), then applies environment
// overrides from environ (os.Environ form). Unknown keys in the file and
// unknown SCRIBEGATE_* variables are errors, so a typo never silently falls
// back to a default. The file is decoded as connector settings are
// (package strictyaml): durations take a unit ("30s"; a bare 0 is zero),
// and an error names its key.
func loadConfig(path string, environ []string) (Config, error) {
	cfg := defaultConfig()
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := strictyaml.Decode(raw, &cfg); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
	if len(cfg.Connectors.Instances) == 0 {
		def, err := defaultConnectors(cfg.DataDir)
		if err != nil {
			return Config{}, err
		}
		def.Clinics = cfg.Connectors.Clinics
		def.IDPatterns = cfg.Connectors.IDPatterns
		cfg.Connectors = def
	}
	if cfg.Store.Path == "" {
		cfg.Store.Path = filepath.Join(cfg.DataDir, "scribegate.db")
	}
	if cfg.Auth.DevSecretFile == "" && cfg.Auth.JWKSURL == "" && cfg.SSO.OIDC.Issuer == "" {
		cfg.Auth.DevSecretFile = filepath.Join(cfg.DataDir, "dev-secret")
	}
	return cfg, cfg.validate()
}

func (c Config) validate() error {
	var errs []error
	oneOf := func(key, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		errs = append(errs, fmt.Errorf("%s: %q is not one of %s", key, v, strings.Join(allowed, ", ")))
	}
	oneOf("log_level", c.LogLevel, "debug", "info", "warn", "error")
	oneOf("transcription.engine", c.Transcription.Engine, "sphinx", "openai", "synthetic")
	oneOf("streaming.live_drafter", c.Streaming.LiveDrafter, "rules", "configured")
	if v := c.Streaming.LiveDraftShare; !(v > 0 && v <= 1) {
		errs = append(errs, fmt.Errorf("streaming.live_draft_share: %v is not in (0, 1]", v))
	}
	oneOf("drafting.drafter", c.Drafting.Drafter, "rules", "openai")
	oneOf("store.driver", c.Store.Driver, "sqlite", "redis")
	if c.Store.Driver == "redis" && c.Store.RedisURL == "" {
		errs = append(errs, errors.New("store.redis_url is required with store.driver redis"))
	}
	if c.Rollout.MetricsWindow <= 0 {
		errs = append(errs, errors.New("rollout.metrics_window must be positive"))
	}
	if err := rollout.Pilots(c.Rollout.Groups).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("rollout.groups: %w", err))
	}
	if c.Store.RedisReplicas < 0 || c.Store.RedisReplicaTimeout < 0 || c.Store.RedisPoolSize < 0 || c.Store.RedisPoolTimeout < 0 {
		errs = append(errs, errors.New("store.redis_replicas, redis_replica_timeout, redis_pool_size and redis_pool_timeout may not be negative"))
	}
	errs = append(errs, c.checkSecurity()...)
	errs = append(errs, c.checkSSO()...)
	if c.HTTP.ReadHeaderTimeout <= 0 || c.HTTP.ReadTimeout <= 0 || c.HTTP.IdleTimeout <= 0 {
		errs = append(errs, errors.New("http.read_header_timeout, read_timeout and idle_timeout must be positive"))
	}
	if c.Streaming.MaxFrameBytes <= 0 {
		errs = append(errs, errors.New("streaming.max_frame_bytes must be positive"))
	}
	if c.Streaming.IdleTimeout <= 0 {
		errs = append(errs, errors.New("streaming.idle_timeout must be positive"))
	}
	if c.Streaming.ResumeWindow < 0 || c.Streaming.CloseGrace < 0 || c.Streaming.MaxSessions < 0 || c.Streaming.MaxSessionsPerClinician < 0 || c.Streaming.DurableInterval < 0 || c.Streaming.TranscriptSaveInterval < 0 || c.Streaming.MaxUnstored < 0 {
		errs = append(errs, errors.New("streaming.resume_window, close_grace, max_sessions, max_sessions_per_clinician, durable_interval, transcript_save_interval and max_unstored may not be negative"))
	}
	if c.Retention.Notes < 0 || c.Retention.Audit < 0 || c.Retention.Interval <= 0 {
		errs = append(errs, errors.New("retention.notes and retention.audit may not be negative; retention.interval must be positive"))
	}
	if c.Push.Workers <= 0 || c.Push.MaxAttempts <= 0 {
		errs = append(errs, errors.New("push.workers and push.max_attempts must be positive"))
	}
	if _, ok := c.Connectors.Instances[c.Connectors.Default]; !ok {
		errs = append(errs, fmt.Errorf("connectors.default: no instance named %q", c.Connectors.Default))
	}
	for inst, pats := range c.Connectors.IDPatterns {
		if _, ok := c.Connectors.Instances[inst]; !ok {
			errs = append(errs, fmt.Errorf("connectors.id_patterns.%s: no instance named %q", inst, inst))
		}
		if _, err := pats.compile(); err != nil {
			errs = append(errs, fmt.Errorf("connectors.id_patterns.%s: %w", inst, err))
		}
	}
	for clinic, inst := range c.Connectors.Clinics {
		if _, ok := c.Connectors.Instances[inst]; !ok {
			errs = append(errs, fmt.Errorf("connectors.clinics.%s: no instance named %q", clinic, inst))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// envPrefix starts every override variable.
const envPrefix = "SCRIBEGATE_"

// applyEnv sets fields from SCRIBEGATE_* variables. The variable for a key is
// its YAML path in capitals joined by underscores: streaming.idle_timeout is
// SCRIBEGATE_STREAMING_IDLE_TIMEOUT. Maps (connector instances, clinic
// routes) are file-only.
func applyEnv(cfg *Config, environ []string) error {
	fields := map[string]reflect.Value{}
	collectEnvFields(reflect.ValueOf(cfg).Elem(), envPrefix, fields)
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || ignoredEnv[name] {
			continue
		}
		f, known := fields[name]
		if !known {
			return fmt.Errorf("config: unknown environment variable %s", name)
		}
		if err := setFromString(f, val); err != nil {
			return fmt.Errorf("config: %s: %w", name, err)
		}
	}
	return nil
}

// ignoredEnv are SCRIBEGATE_ variables that are not configuration keys.
var ignoredEnv = map[string]bool{
	"SCRIBEGATE_CONFIG": true, // the file path itself
	"SCRIBEGATE_TOKEN":  true, // used by the stream subcommand
	"SCRIBEGATE_URL":    true, // used by the stream subcommand
}

func collectEnvFields(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Struct:
			collectEnvFields(f, name+"_", out)
		case reflect.Map:
			// file-only
		default:
			out[name] = f
		}
	}
}

func setFromString(f reflect.Value, s string) error {
	switch {
	case f.Type() == reflect.TypeFor[time.Duration]():
		d, err := strictyaml.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case f.Kind() == reflect.Float64:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		f.SetFloat(v)
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// decodeStrict decodes a connector instance's YAML node into v, refusing
// unknown keys (connectors.DecodeSettings).
func decodeStrict(n yaml.Node, v any) error { return connectors.DecodeSettings(n, v) }

// instanceKind returns the "kind" key of a connector instance's settings.
func instanceKind(n yaml.Node) (string, error) { return connectors.SettingsKind(n) }
