package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scribegate/scribegate/gateway/accesslog"
	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/gateway/noteapi"
	"github.com/scribegate/scribegate/gateway/patientid"
	"github.com/scribegate/scribegate/gateway/rolloutapi"
	"github.com/scribegate/scribegate/gateway/webui"
	"github.com/scribegate/scribegate/gateway/wsconn"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/notes"
)

// NoteService is the part of the review service the gateway drives: what
// sessions create and draft, and what the note API (package noteapi) reads
// and changes. It is satisfied by *review.Service; the gateway keeps no
// rules of its own about who may do what to a note.
type NoteService interface {
	noteapi.Notes
	Create(ctx context.Context, n *review.Note) (*review.Note, error)
	SetDraft(ctx context.Context, id string, d note.Draft, transcript []note.Line, state review.State) (*review.Note, error)
}

// TemplateSet is where session templates come from; *notes.Templates
// satisfies it, so clinics' own templates and defaults apply unchanged.
type TemplateSet interface {
	// Default and All serve GET /v1/templates, and Default is the
	// template of a session that names none.
	noteapi.TemplateLister
	// Get returns the template with the id, or an error when there is none.
	Get(id string) (notes.Template, error)
}

// Check is one named readiness probe, such as a store ping.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Limits bound what one streaming session may use. Zero fields take the
// defaults noted on each.
type Limits struct {
	// MaxFrameBytes is the largest WebSocket message accepted (256 KiB).
	MaxFrameBytes int64
	// IdleTimeout finishes a session that sent no audio and no KeepAlive
	// for this long (60s). The note is drafted and queued, never dropped.
	IdleTimeout time.Duration
	// MaxSessionDuration finishes a session this long after it began (4h),
	// counting time before a restart that rebuilt it.
	MaxSessionDuration time.Duration
	// PingInterval is how often the gateway pings the client (30s); a
	// client that answers no ping for two intervals is gone.
	PingInterval time.Duration
	// Endpointing is the silence that ends an utterance when the client
	// does not say (the transcription package's default when zero).
	Endpointing time.Duration
	// MaxUtterance cuts utterances longer than this (the transcription
	// package's default when zero).
	MaxUtterance time.Duration
	// MaxBodyBytes bounds REST request bodies (noteapi's default when
	// zero: 1 MiB).
	MaxBodyBytes int64
	// MaxFileBytes bounds a pre-recorded upload to POST /v1/listen
	// (512 MiB: some four and a half hours at 16 kHz).
	MaxFileBytes int64
	// ResumeWindow is how long a session whose client vanished waits for
	// it to reconnect with session=<id> before it is finished (drafted and
	// queued). Zero finishes it at once. It needs Options.Audio.
	ResumeWindow time.Duration
	// CloseGrace is how long, within ResumeWindow, a session waits for a
	// client that closed its socket without CloseStream (10s; negative:
	// finished at once): such a client has usually ended the
	// consultation, and its note should not wait the whole window.
	CloseGrace time.Duration
	// MaxSessions bounds the sessions held at once (0: no bound); past it
	// a new session is refused with 503 too_many_sessions.
	MaxSessions int
	// MaxSessionsPerClinician bounds one clinician's sessions at once (0:
	// no bound); past it 429 clinician_session_limit.
	MaxSessionsPerClinician int
	// MaxEventStreams bounds one user's open GET /v1/events streams
	// (noteapi's default when zero: 8); past it 429 too_many_streams.
	MaxEventStreams int
	// DurableInterval and DurableBytes batch audio writes to the store
	// across sessions (group commit): a batch of every session's pending
	// audio is written when its first bytes are this old or it is this
	// large (10 ms, 512 KiB). A session's Results, SpeechStarted,
	// UtteranceEnd and live NoteDrafts go out with its Durable, so they
	// too wait up to DurableInterval.
	DurableInterval time.Duration
	DurableBytes    int
	// TranscriptSaveInterval is how often, at most, a session appends its
	// final utterances to the note's transcript log (0: each as it comes).
	// The log spares a gateway that restarts transcribing again what it
	// had; the audio is stored either way, and the end of a session
	// stores the whole transcript with its draft.
	TranscriptSaveInterval time.Duration
	// InterimInterval is how much new speech is heard between interim
	// results when a client asks for them (1s). Each interim re-sends the
	// utterance so far to the engine.
	InterimInterval time.Duration
	// LiveDraftInterval rate-limits the NoteDraft messages sent during a
	// session as utterances become final (5s); negative turns them off.
	LiveDraftInterval time.Duration
	// LiveDraftShare is the share of the gateway's CPUs (GOMAXPROCS) that
	// live drafts may take between all sessions (0.25). Each live draft
	// redrafts the whole transcript so far, so a thousand hour-long
	// consultations would otherwise spend the machine on drafts: once the
	// share is spent, live drafts come less often. Audio, results and
	// final drafts never wait for it.
	LiveDraftShare float64
	// SessionLease is how long a session's lease lasts unrenewed (30s),
	// on a store several gateways share (see lease.go): after a crash,
	// another gateway may take the session over this long after the last
	// renewal.
	SessionLease time.Duration
	// OrphanScan is how often a gateway on a shared store looks for
	// sessions left recording by an instance that died and whose clients
	// did not come back (1m; negative: only at start).
	OrphanScan time.Duration
	// MaxUnstored is how much of a session's audio, in seconds of it, may
	// wait in memory for the audio store (30s). Past it the gateway stops
	// reading the client's frames until the store catches up, so a client
	// resending a long stretch after a resume goes at the store's pace;
	// if the store takes none of it for 10s (or MaxUnstored, if shorter)
	// the connection is closed (Error audio_not_stored, close 1013): the
	// client keeps what is past its last Durable and resumes later,
	// rather than the gateway holding audio until memory runs out. The
	// session waits for it (ResumeWindow) while the writer keeps trying.
	MaxUnstored time.Duration
}

// withDefaults fills in the limits left unset: zero or negative, or only
// zero for CloseGrace and OrphanScan, where a negative value turns them
// off.
func (l Limits) withDefaults() Limits {
	l.MaxFrameBytes = positiveOr(l.MaxFrameBytes, 256<<10)
	l.IdleTimeout = positiveOr(l.IdleTimeout, 60*time.Second)
	l.MaxFileBytes = positiveOr(l.MaxFileBytes, 512<<20)
	l.CloseGrace = cmp.Or(l.CloseGrace, 10*time.Second)
	l.MaxSessionDuration = positiveOr(l.MaxSessionDuration, 4*time.Hour)
	l.PingInterval = positiveOr(l.PingInterval, 30*time.Second)
	l.MaxUnstored = positiveOr(l.MaxUnstored, 30*time.Second)
	l.SessionLease = positiveOr(l.SessionLease, defaultSessionLease)
	l.OrphanScan = cmp.Or(l.OrphanScan, defaultOrphanScan)
	return l
}

// positiveOr is v, or def when v is not positive (a limit left unset).
func positiveOr[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Options are everything the gateway needs, wired by cmd/scribegate.
type Options struct {
	// Auth verifies tokens (auth.New). Required.
	Auth *auth.Verifier
	// Engine recognises speech for streaming sessions. Required.
	Engine transcription.Engine
	// Drafter writes the draft note when a session finishes. Required.
	Drafter notes.Drafter
	// DrafterFor, when set, picks the drafter of a clinic's final drafts
	// instead of Drafter, for settings that differ by clinic (such as
	// de-identification before text leaves for an LLM).
	DrafterFor func(clinic string) notes.Drafter
	// LiveDrafter writes the drafts sent while a session goes on; nil
	// means the offline rule drafter (behind the support check), so a
	// paid LLM drafter is called once per session, not every few seconds.
	// Set it to Drafter to draft live with the configured drafter.
	LiveDrafter notes.Drafter
	// Templates finds the template a session names, or its default.
	// Required.
	Templates TemplateSet
	// Notes is the review service. Required.
	Notes NoteService
	// ConnectorExists validates the connector a session names; nil accepts
	// only sessions that name none.
	ConnectorExists func(name string) bool
	// ConnectorFor is the connector routed to a clinic; nil or "" falls
	// back to DefaultConnector. A session files with its clinic's routed
	// connector and may name no other (unknown_connector), so one
	// clinic's notes never reach another clinic's EHR.
	ConnectorFor     func(clinic string) string
	DefaultConnector string
	// Connector returns the named connector, for the optional checks the
	// gateway makes on it (patientid.Validator) and patient lookup
	// (noteapi.PatientSearcher); nil makes none.
	Connector func(name string) any
	// IDPatterns holds, by connector name, the shapes its patient and
	// encounter ids take when they are not FHIR ids; a connector without
	// an entry takes FHIR ids only. Any other id is refused with
	// invalid_parameter when a session opens.
	IDPatterns map[string]patientid.Patterns
	// Limits bound streaming sessions and request bodies.
	Limits Limits
	// Rollout serves GET /v1/metrics/rollout, the rollout figures of the
	// caller's clinic; nil answers it not_found.
	Rollout *rolloutapi.Handler
	// Metrics is where the gateway registers its collectors and what
	// /metrics serves; a private registry when nil. The default registry is
	// never touched.
	Metrics *prometheus.Registry
	// Ready lists the probes /readyz runs.
	Ready []Check
	// Logger receives request and session logs (ids only, never text);
	// slog.Default() when nil.
	Logger *slog.Logger
	// Instance names this process in the leases gateways sharing a store
	// hold on their sessions; the host's name when empty. Two processes
	// sharing a store must have different names; a process restarted
	// under the same name takes its sessions back without waiting for
	// their leases to run out.
	Instance string
	// Audio stores each session's audio as it arrives, so that a session
	// survives a dropped connection and a gateway restart (resume). nil
	// keeps audio in memory only: no Durable messages and no resume.
	Audio review.AudioStore
	// Sessions authenticates the web UI's requests by their sign-in
	// session cookie (gateway/sso) when they carry no bearer token; nil
	// accepts bearer tokens only.
	Sessions auth.SessionAuth
	// SignIn serves the sign-in routes, /auth/… and /launch…
	// (gateway/sso); nil serves none, and the web UI offers the
	// development token sign-in.
	SignIn http.Handler
	// FrameAncestors are the origins (EHRs) allowed to frame the web UI;
	// none: framing is denied.
	FrameAncestors []string
	// OnApproved is called after a note is approved or a push is retried,
	// to wake the push worker (Worker.Kick). Optional; must not block.
	OnApproved func()
}

// Server is the HTTP and WebSocket surface of scribegate.
type Server struct {
	opts     Options
	instance string // Options.Instance or the host's name
	auth     *auth.Verifier
	limits   Limits
	log      *slog.Logger
	metrics  *metrics
	reg      *prometheus.Registry
	handler  http.Handler

	// base outlives requests: sessions finish on it after their client is
	// gone. cancel ends it when a Shutdown runs out of time.
	base   context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	draining bool
	drain    chan struct{} // closed by Shutdown: open sessions finish now
	sessions sync.WaitGroup
	recs     registry // live sessions by id, and the counts for the limits
	drafts   *draftBudget
	// bufs recycles the streams' audio buffers across sessions, so that
	// the collector is not left every utterance's copy to clear.
	bufs *transcription.Buffers
	// ws upgrades and serves the streaming sessions' connections.
	ws *wsconn.Upgrader

	// afterOffer, when set (by tests), runs once offer has handed a
	// resuming connection to its session.
	afterOffer atomic.Pointer[func(*session, wsConn)]
}

// idleBufferBytes bounds the streams' idle audio buffers, per session the
// gateway may hold: 32 KiB (1 s at 16 kHz) leaves the streams almost no
// buffer to allocate (transcription's BenchmarkSegmenterSessions, 200
// sessions; half that, and they allocate most of what they did unpooled).
const idleBufferBytes = 32 << 10

// New checks the options and builds a server.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Auth == nil:
		return nil, errors.New("gateway: Options.Auth is required")
	case opts.Engine == nil:
		return nil, errors.New("gateway: Options.Engine is required")
	case opts.Drafter == nil:
		return nil, errors.New("gateway: Options.Drafter is required")
	case opts.Notes == nil:
		return nil, errors.New("gateway: Options.Notes is required")
	case opts.Templates == nil:
		return nil, errors.New("gateway: Options.Templates is required")
	}
	if opts.DefaultConnector != "" && (opts.ConnectorExists == nil || !opts.ConnectorExists(opts.DefaultConnector)) {
		return nil, fmt.Errorf("gateway: default connector %q does not exist", opts.DefaultConnector)
	}
	s := &Server{
		opts:     opts,
		auth:     opts.Auth,
		limits:   opts.Limits.withDefaults(),
		instance: cmp.Or(opts.Instance, defaultInstance()),
		log:      opts.Logger,
		reg:      opts.Metrics,
		drain:    make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(s.reg)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.base, s.cancel = context.WithCancel(context.Background())
	s.ws = wsconn.New(wsconn.Options{
		ReadLimit: s.limits.MaxFrameBytes,
		// A client that answers no ping for two intervals is gone.
		ReadTimeout:  2 * s.limits.PingInterval,
		WriteTimeout: writeWait,
	})
	s.recs.init()
	s.drafts = newDraftBudget(s.limits.liveDraftShare()*float64(runtime.GOMAXPROCS(0)), time.Now)
	sessions := s.limits.MaxSessions
	if sessions <= 0 {
		sessions = 1000
	}
	s.bufs = transcription.NewBuffers(sessions * idleBufferBytes)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("GET /v1/listen", s.listen)
	mux.HandleFunc("POST /v1/listen", s.transcribeFile)
	mux.HandleFunc("GET /v1/metrics/rollout", s.rollout)
	noteapi.New(noteapi.Options{
		Auth: s.auth, Sessions: opts.Sessions, Notes: opts.Notes, Templates: opts.Templates,
		ConnectorFor: s.connectorFor, MaxBodyBytes: s.limits.MaxBodyBytes, MaxEventStreams: s.limits.MaxEventStreams,
		OnApproved: opts.OnApproved, Drain: s.drain, WriteError: s.writeError, Logger: s.log,
	}).Register(mux)
	// The clinicians' web UI: its page at / and its assets under /app/.
	// It holds no data; every call it makes goes through /v1 with a token.
	ui := webui.Handler(opts.FrameAncestors...)
	mux.Handle("GET /{$}", ui)
	mux.Handle("GET /app/", ui)
	if opts.SignIn != nil {
		mux.Handle("/auth/", opts.SignIn)
		mux.Handle("/launch", opts.SignIn)
		mux.Handle("/launch/", opts.SignIn)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, apierror.Errorf(http.StatusNotFound, apierror.CodeNotFound, "no such route: %s %s", r.Method, r.URL.Path))
	})
	if s.handler, err = accesslog.Handler(noStore(mux), s.log, s.reg); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler serves every route of the gateway.
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown stops accepting streaming sessions and finishes every open one
// (transcribe what was received, draft, queue for review) before it
// returns, so a deploy never loses a consultation. Call it alongside
// http.Server.Shutdown, which does not wait for WebSocket connections. If
// ctx ends first, remaining sessions are cancelled and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		close(s.drain)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		return ctx.Err()
	}
}

// startSession registers a session with the drain, or reports that the
// server is shutting down.
func (s *Server) startSession() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.sessions.Add(1)
	return true
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}
