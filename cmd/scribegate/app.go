package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/gateway"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/sealed"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/notes"
	"github.com/scribegate/scribegate/transcription/sphinx"

	// Connector kinds offered by this build; an integrator's own kind is
	// one more blank import.
	_ "github.com/scribegate/scribegate/connectors/athena"
	_ "github.com/scribegate/scribegate/connectors/bestpractice"
	_ "github.com/scribegate/scribegate/connectors/cerner"
	_ "github.com/scribegate/scribegate/connectors/epic"
	_ "github.com/scribegate/scribegate/connectors/fhir"
	_ "github.com/scribegate/scribegate/connectors/file"
	_ "github.com/scribegate/scribegate/connectors/gentu"
	_ "github.com/scribegate/scribegate/connectors/mllp"
	_ "github.com/scribegate/scribegate/connectors/webhook"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/gateway/patientid"
	"github.com/scribegate/scribegate/gateway/rolloutapi"
	"github.com/scribegate/scribegate/gateway/sso"
	"github.com/scribegate/scribegate/review/rollout"
)

// store is the review store with the readiness probe both
// implementations offer.
type store interface {
	review.Store
	review.AudioStore
	rollout.Source
	sso.Store // the web UI's sign-in sessions
	Ping(ctx context.Context) error
}

// app is a wired gateway: the HTTP surface, the review service and its
// store, and the push worker with the connectors behind it.
type app struct {
	cfg        Config
	log        *slog.Logger
	server     *gateway.Server
	notes      *review.Service
	worker     *review.Worker
	purger     *review.Purger
	rollouts   *rollout.Reader
	pilots     rollout.Pilots
	store      store
	connectors map[string]connectors.Connector
	engine     transcription.Engine
}

// newApp builds every part from cfg. Nothing starts serving until run.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	cfg.warnInsecure(log)

	keys, err := loadKeys(cfg.Encryption, log)
	if err != nil {
		return nil, err
	}
	if a.store, err = openStore(ctx, cfg, keys, log); err != nil {
		return nil, err
	}

	if a.connectors, err = openConnectors(ctx, cfg.Connectors, cfg.DataDir, log); err != nil {
		return nil, err
	}
	templates, err := notes.NewTemplates(true, cfg.Drafting.TemplatesDir, notes.Defaults{
		Clinics: cfg.Drafting.ClinicTemplates, Clinicians: cfg.Drafting.ClinicianTemplates,
	})
	if err != nil {
		return nil, err
	}

	// Note events for live queue pages: through Redis pub/sub when the
	// store is shared by several instances, in process otherwise.
	var broker review.Broker = review.NewLocalBroker()
	if b, ok := a.store.(review.Broker); ok {
		broker = b
	}
	a.worker = review.NewWorker(a.store, &connectorPusher{conns: a.connectors, templates: templates, route: cfg.Connectors.route}, review.WorkerOptions{
		Concurrency: cfg.Push.Workers,
		Lease:       cfg.Push.Lease,
		MaxAttempts: cfg.Push.MaxAttempts,
		BaseBackoff: cfg.Push.BaseBackoff,
		MaxBackoff:  cfg.Push.MaxBackoff,
		Logger:      log,
		Events:      broker,
	})
	a.notes = review.NewService(a.store, review.ServiceOptions{Logger: log, OnEnqueue: a.worker.Kick, Events: broker, Check: notes.Check})
	// Audio is sealed on its way to either store (and, with no keys,
	// audio that was sealed fails to read rather than be read as sound).
	audio := sealed.Audio(a.store, keys)
	a.purger = review.NewPurger(a.store, audio, review.Retention{
		Audio: cfg.Retention.Audio, Notes: cfg.Retention.Notes, Audit: cfg.Retention.Audit,
	}, nil, log)

	engine, err := newEngine(cfg.Transcription, log)
	if err != nil {
		return nil, err
	}
	a.engine = engine
	drafter, drafterFor := clinicDrafters(cfg.Drafting, log)

	signIn, err := newSignIn(cfg, a.store, log)
	if err != nil {
		return nil, err
	}
	authCfg := cfg.Auth
	var discover func(context.Context) (string, error)
	if signIn != nil && signIn.OIDCEnabled() && authCfg.JWKSURL == "" {
		// API clients' bearer tokens come from the same provider, for
		// this gateway: the development secret is never used. Its key
		// set is found by discovery, retried until the provider answers,
		// so the gateway starts while the provider is down.
		discover = signIn.DiscoverJWKS
		authCfg.Issuer, authCfg.Audience = signIn.Issuer(), signIn.ClientID()
	}
	verifier, err := newAuth(ctx, authCfg, discover, log)
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The rollout figures read the store through one cache of days, for
	// the endpoint and the metrics alike.
	rollouts := rollout.NewReader(a.store, 0)
	rollouts.Log = log
	pilots := rollout.Pilots(cfg.Rollout.Groups)
	reg.MustRegister(rollout.NewCollector(rollouts, pilots, cfg.Rollout.MetricsWindow))
	a.rollouts, a.pilots = rollouts, pilots

	routes := cfg.Connectors
	idPatterns := map[string]patientid.Patterns{}
	for inst, c := range routes.IDPatterns {
		if idPatterns[inst], err = c.compile(); err != nil {
			return nil, err
		}
	}
	host, _ := os.Hostname()
	opts := gateway.Options{
		// Gateways sharing a Redis store tell their session leases apart
		// by host and address; the same after a restart in place.
		Instance:  cmp.Or(host, "scribegate") + "/" + cfg.Listen,
		Auth:      verifier,
		Engine:    engine,
		Drafter:   drafter,
		Templates: templates,
		Notes:     a.notes,
		ConnectorExists: func(name string) bool {
			_, ok := a.connectors[name]
			return ok
		},
		ConnectorFor:     routes.route,
		DefaultConnector: routes.Default,
		Connector:        func(name string) any { return a.connectors[name] },
		IDPatterns:       idPatterns,
		Limits: gateway.Limits{
			MaxFrameBytes:      int64(cfg.Streaming.MaxFrameBytes),
			IdleTimeout:        cfg.Streaming.IdleTimeout,
			MaxSessionDuration: cfg.Streaming.MaxSession,
			Endpointing:        cfg.Streaming.Endpointing,
			InterimInterval:    cfg.Streaming.InterimInterval,
			LiveDraftInterval:  cfg.Streaming.LiveDraftInterval,
			LiveDraftShare:     cfg.Streaming.LiveDraftShare,

			ResumeWindow:            cfg.Streaming.ResumeWindow,
			CloseGrace:              closeGrace(cfg.Streaming.CloseGrace),
			MaxSessions:             cfg.Streaming.MaxSessions,
			MaxSessionsPerClinician: cfg.Streaming.MaxSessionsPerClinician,
			DurableInterval:         cfg.Streaming.DurableInterval,
			TranscriptSaveInterval:  cfg.Streaming.TranscriptSaveInterval,
			MaxUnstored:             cfg.Streaming.MaxUnstored,
			OrphanScan:              cfg.Streaming.OrphanScanInterval,
		},
		Audio:       audio,
		LiveDrafter: liveDrafter(cfg.Streaming, drafter),
		DrafterFor:  drafterFor,
		Metrics:     reg,
		Rollout:     rolloutapi.New(rollouts, pilots),
		Ready:       []gateway.Check{{Name: "store", Check: a.store.Ping}},
		Logger:      log,
	}
	if signIn != nil {
		opts.Sessions, opts.SignIn, opts.FrameAncestors = signIn, signIn, signIn.FrameAncestors()
	} else {
		opts.FrameAncestors = cfg.SSO.FrameAncestors
	}
	if a.server, err = gateway.New(opts); err != nil {
		return nil, err
	}
	return a, nil
}

// openStore opens the configured review store: the embedded SQLite file,
// or Redis for several gateway instances sharing one queue. A store that
// failed to open is a nil interface, never a typed nil that app.close
// would try to close.
func openStore(ctx context.Context, cfg Config, keys *sealed.Ring, log *slog.Logger) (store, error) {
	c := cfg.Store
	var (
		st  store
		err error
	)
	if c.Driver == "redis" {
		if keys != nil {
			log.Warn("encryption keys are configured: the redis store's audio and sign-in sessions are sealed, its notes, transcripts and audit entries are not; protect the Redis server and its persistence files")
		}
		st, err = redisstore.OpenOptions(ctx, redisstore.Options{
			URL: c.RedisURL, MasterName: c.RedisMasterName, Replicas: c.RedisReplicas, ReplicaTimeout: c.RedisReplicaTimeout,
			PoolSize: cfg.redisPoolSize(), PoolTimeout: c.RedisPoolTimeout, Keys: keys,
		})
	} else {
		st, err = sqlitestore.Open(ctx, c.Path, sqlitestore.WithKeys(keys))
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// newAuth builds the bearer-token verifier: the key set at auth.jwks_url,
// or the one discover finds (single sign-on's provider), or else the
// development secret.
func newAuth(ctx context.Context, c AuthConfig, discover func(context.Context) (string, error), log *slog.Logger) (*auth.Verifier, error) {
	ac := auth.Config{JWKSURL: c.JWKSURL, DiscoverJWKS: discover, Issuer: c.Issuer, Audience: c.Audience, Logger: log}
	if c.JWKSURL == "" && discover == nil {
		secret, err := devSecret(c.DevSecretFile)
		if err != nil {
			return nil, err
		}
		ac.Secret = secret
	}
	return auth.New(ctx, ac)
}

func newEngine(c TranscriptionConfig, log *slog.Logger) (transcription.Engine, error) {
	var e transcription.Engine
	var err error
	switch c.Engine {
	case "synthetic":
		log.Warn("transcription.engine synthetic is a load-testing stand-in: its transcripts are not what was said")
		e = transcription.SyntheticEngine{}
	case "openai":
		e, err = transcription.NewOpenAIEngine(transcription.OpenAIConfig{
			BaseURL: c.OpenAI.BaseURL, APIKey: c.OpenAI.APIKey(), Model: c.OpenAI.Model, Timeout: c.OpenAI.Timeout, Language: c.Language,
		})
	default:
		e, err = sphinx.New(sphinx.Config{ModelDir: c.Sphinx.ModelDir, Decoders: c.Sphinx.Decoders})
	}
	if err != nil {
		return nil, err
	}
	return transcription.Limit(e, engineLimit(c)), nil
}

// defaultOpenAIConcurrency is how many requests go to an OpenAI-compatible
// server at once when the operator does not say: enough to keep a few
// dozen sessions' utterances flowing, few enough not to trip an account's
// rate limit with a burst.
const defaultOpenAIConcurrency = 8

// engineLimit is the bound on the engine's calls in flight: the operator's
// transcription.max_concurrent, or the engine's own default. Sphinx's
// default is its decoders, so waiting callers queue in the limit (and are
// counted) rather than inside the engine; the synthetic engine is unbounded.
func engineLimit(c TranscriptionConfig) int {
	switch {
	case c.MaxConcurrent != 0:
		return max(c.MaxConcurrent, 0)
	case c.Engine == "openai":
		return defaultOpenAIConcurrency
	case c.Engine == "synthetic":
		return 0
	default:
		return max(c.Sphinx.Decoders, 0)
	}
}

// liveDrafter is the drafter of live drafts: the offline one unless the
// operator chose to pay for the configured drafter every few seconds.
func liveDrafter(c StreamingConfig, configured notes.Drafter) notes.Drafter {
	if c.LiveDrafter == "configured" {
		return configured
	}
	return notes.Checked(notes.RuleDrafter{})
}

// clinicDrafters returns the default drafter and each clinic's: the same
// drafter with or without de-identification, as drafting.deidentify and
// drafting.deidentify_clinics say.
func clinicDrafters(c DraftingConfig, log *slog.Logger) (notes.Drafter, func(clinic string) notes.Drafter) {
	def := newDrafter(c, c.Deidentify, log)
	deidentified, plain := newDrafter(c, true, log), newDrafter(c, false, log)
	return def, func(clinic string) notes.Drafter {
		on, ok := c.DeidentifyClinics[clinic]
		switch {
		case !ok:
			return def
		case on:
			return deidentified
		default:
			return plain
		}
	}
}

// newDrafter returns the configured drafter behind the support check, so
// every draft's unsupported sentences are flagged whichever drafter wrote it.
// deidentify applies to the LLM drafter only: the offline one sends nothing
// anywhere.
func newDrafter(c DraftingConfig, deidentify bool, log *slog.Logger) notes.Drafter {
	rules := notes.RuleDrafter{}
	if c.Drafter != "openai" {
		return notes.Checked(rules)
	}
	return notes.Checked(notes.NewOpenAIDrafter(notes.OpenAIConfig{
		BaseURL: c.OpenAI.BaseURL, APIKey: c.OpenAI.APIKey(), Model: c.OpenAI.Model, Timeout: c.OpenAI.Timeout,
		Fallback: rules, Deidentify: deidentify, Logger: log,
	}))
}

// openConnectors opens every configured instance through the registry;
// the gateway does not start with one it cannot open.
func openConnectors(ctx context.Context, c ConnectorsConfig, dataDir string, log *slog.Logger) (map[string]connectors.Connector, error) {
	out, failed := openEach(ctx, c, dataDir, log)
	if len(failed) > 0 {
		names := slices.Sorted(maps.Keys(failed))
		return nil, failed[names[0]]
	}
	return out, nil
}

// openEach opens every configured instance, going on past one that cannot
// open: what opened, and why each of the others did not.
func openEach(ctx context.Context, c ConnectorsConfig, dataDir string, log *slog.Logger) (map[string]connectors.Connector, map[string]error) {
	out := make(map[string]connectors.Connector, len(c.Instances))
	failed := map[string]error{}
	for name, node := range c.Instances {
		kind, err := instanceKind(node)
		if err != nil {
			failed[name] = fmt.Errorf("connectors.instances.%s: %w", name, err)
			continue
		}
		conn, err := connectors.Open(ctx, kind, connectors.Config{
			Name:     name,
			Decode:   func(v any) error { return decodeStrict(node, v) },
			Logger:   log.With("connector", name),
			StateDir: filepath.Join(dataDir, "connectors", name),
		})
		if err != nil {
			failed[name] = err
			continue
		}
		out[name] = conn
	}
	return out, failed
}

// run serves on l and works the push outbox until ctx ends, then drains
// open sessions (finishing their notes) before returning.
func (a *app) run(ctx context.Context, l net.Listener) error {
	l, err := tlsListener(l, a.cfg.TLS, a.log)
	if err != nil {
		return err
	}
	// Sessions a stopped gateway left recording are resumed or finished.
	if err := a.server.Recover(ctx); err != nil {
		return err
	}
	srv := &http.Server{
		Handler: a.server.Handler(),
		// Net/http clears a connection's deadlines when it is hijacked,
		// so WebSocket sessions outlive these; event streams lift them.
		ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.HTTP.ReadTimeout,
		IdleTimeout:       a.cfg.HTTP.IdleTimeout,
	}
	// The push worker and the purger run until the HTTP server has
	// stopped, so pushes approved while sessions drain still go out.
	backCtx, stopBack := context.WithCancel(context.WithoutCancel(ctx))
	var back errgroup.Group
	back.Go(func() error {
		a.purger.Run(backCtx, a.cfg.Retention.Interval)
		return nil
	})
	back.Go(func() error {
		// Notes stored before summary rows were kept get theirs, then the
		// pilot clinics' first rollout query finds its days cached.
		if b, ok := a.store.(review.SummaryBackfiller); ok {
			t := time.Now()
			n, err := review.Backfill(backCtx, a.store, b)
			if err != nil && backCtx.Err() == nil {
				a.log.Error("rollout: backfilling summary rows failed", "backfilled", n, "err", err)
			} else if n > 0 {
				a.log.Info("rollout: summary rows backfilled", "notes", n, "took", time.Since(t).Round(time.Millisecond))
			}
		}
		a.rollouts.Warm(backCtx, a.pilots.Clinics(), rolloutapi.DefaultPeriod)
		return nil
	})
	back.Go(func() error {
		if err := a.worker.Run(backCtx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("push worker stopped", "err", err)
		}
		return nil
	})
	defer func() {
		stopBack()
		back.Wait()
	}()

	// The server runs until ctx is done or it fails; either way open
	// consultations are finished first (their notes must be queued), then
	// the listener is stopped.
	front, frontCtx := errgroup.WithContext(ctx)
	front.Go(func() error {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	front.Go(func() error {
		<-frontCtx.Done()
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := a.server.Shutdown(shutCtx); err != nil {
			a.log.Error("drain sessions", "err", err)
		}
		return srv.Shutdown(shutCtx)
	})
	a.log.Info("scribegate serving", "addr", l.Addr().String(), "engine", a.cfg.Transcription.Engine, "drafter", a.cfg.Drafting.Drafter)
	return front.Wait()
}

// close releases what newApp opened, once nothing runs any more.
func (a *app) close() {
	if c, ok := a.engine.(io.Closer); ok {
		c.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pprofAddr := fs.String("pprof", "", "serve the Go profiler on this loopback address (development)")
	cfg, err := parseConfigured(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	servePprof(ctx, *pprofAddr, log)
	if os.Getenv("GOGC") == "" {
		// Most of a streaming gateway's heap is audio (utterances in
		// progress), which holds no pointers and costs the collector
		// almost nothing to mark; collecting at 25% growth instead of
		// 100% keeps memory near the audio held for about the same CPU
		// (measured with scribegate load: 1,000 sessions, 459 KiB → 224
		// KiB per session beyond audio, CPU unchanged).
		debug.SetGCPercent(25)
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	return a.run(ctx, l)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}))
}

// connectorPusher is the review.Pusher that files notes through the
// configured connectors: review knows nothing of EHRs, connectors nothing of
// review states.
type connectorPusher struct {
	conns     map[string]connectors.Connector
	templates *notes.Templates
	// route is the connector routed to a clinic (ConnectorsConfig.route).
	route func(clinic string) string
}

// Push files the approved version of n with the connector the note names,
// and only if that connector is still routed to the note's clinic: a note
// never lands in another clinic's EHR, whatever it was recorded with or
// however the routes changed since.
func (p *connectorPusher) Push(ctx context.Context, n *review.Note) (review.PushResult, error) {
	conn, ok := p.conns[n.Connector]
	if !ok {
		return review.PushResult{}, review.Permanent(fmt.Errorf("connector %q is not configured", n.Connector))
	}
	if p.route(n.Clinic) != n.Connector {
		return review.PushResult{}, review.Permanent(fmt.Errorf("connector %q is not routed to the note's clinic", n.Connector))
	}
	tmpl, err := p.templates.Get(n.Template)
	if err != nil {
		return review.PushResult{}, review.Permanent(err)
	}
	rec, err := conn.Push(ctx, documentFor(n, tmpl))
	if err != nil {
		if connectors.IsPermanent(err) {
			return review.PushResult{}, review.Permanent(err)
		}
		return review.PushResult{}, err
	}
	return review.PushResult{ExternalID: rec.ExternalID}, nil
}

// documentFor is the connectors' view of an approved note: the frozen
// approved version, filed under its template's LOINC note type.
func documentFor(n *review.Note, t notes.Template) *connectors.Document {
	d := &connectors.Document{
		NoteID:           n.ID,
		Version:          n.ApprovedVersion,
		Clinic:           n.Clinic,
		Patient:          n.Patient,
		Encounter:        n.Encounter,
		PatientName:      n.PatientName,
		PatientBirthDate: n.PatientBirthDate,
		PatientSex:       n.PatientSex,
		Author:           n.Clinician,
		AuthorName:       n.ClinicianName,
		Approver:         n.ApprovedBy,
		ApproverName:     n.ApprovedByName,
		ApprovedAt:       n.ApprovedAt,
		Template:         n.Template,
		LOINC:            t.LOINC,
		LOINCDisplay:     t.LOINCDisplay,
		Title:            t.Name,
		Text:             n.Draft.Text(),
		Created:          n.CreatedAt,
		Drafter:          n.Draft.Drafter,
		// Authorship travels into the Provenance: the clinician's own
		// sentences are not declared the AI's alone.
		ClinicianAuthored: n.Draft.ClinicianAuthored(),
	}
	// A note filed before and approved again is an amendment: it names
	// the version it replaces so the EHR keeps one current document.
	if n.PushedVersion > 0 && n.PushedVersion != n.ApprovedVersion {
		d.Replaces = connectors.Identifier(n.ID, n.PushedVersion)
		d.ReplacesExternalID = n.ExternalID
	}
	return d
}

// runCheck opens every configured connector instance and runs its checks
// (token, CapabilityStatement …), printing one table.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("connectors check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := parseConfigured(fs, args)
	if err != nil {
		return err
	}
	conns, failed := openEach(ctx, cfg.Connectors, cfg.DataDir, newLogger(stderr, cfg.LogLevel))
	for name, err := range failed {
		conns[name] = unopened{err}
	}
	return printCheckTable(ctx, conns, stdout)
}

// closeGrace maps streaming.close_grace onto gateway.Limits.CloseGrace,
// where zero is the default and a negative grace none.
func closeGrace(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
