// Package noteapi is the REST API clinicians and reviewers work notes
// through: list, read, edit, approve, reject and retry notes (/v1/notes),
// the review queue's counts, soft locks and events, the templates a
// recorder offers (/v1/templates) and patient lookup (/v1/patients). It
// keeps no rules of its own about who may do what to a note: the review
// service (Notes) decides, and the API answers its errors with stable codes
// (package apierror).
package noteapi

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// Notes is the part of the review service the API drives. It is satisfied
// by *review.Service.
type Notes interface {
	Get(ctx context.Context, a review.Actor, id string) (*review.Note, error)
	List(ctx context.Context, a review.Actor, q review.Query) (review.Page, error)
	Edit(ctx context.Context, a review.Actor, id string, version int, sections []note.Section) (*review.Note, error)
	Approve(ctx context.Context, a review.Actor, id string, version int, acknowledged ...string) (*review.Note, error)
	Reject(ctx context.Context, a review.Actor, id string, version int, reason string) (*review.Note, error)
	RetryPush(ctx context.Context, a review.Actor, id string) (*review.Note, error)
	Audit(ctx context.Context, a review.Actor, id string) ([]review.AuditEntry, error)
}

// TemplateLister is what GET /v1/templates needs of the template set;
// *notes.Templates satisfies it.
type TemplateLister interface {
	// Default is the template of a session that names none.
	Default(clinic, clinician string) notes.Template
	// All lists every template in a stable order.
	All() []notes.Template
}

// Options are what the API needs, wired by the gateway.
type Options struct {
	// Auth verifies bearer tokens; Sessions, when set, authenticates
	// requests without one by their sign-in session cookie. Auth is
	// required.
	Auth     *auth.Verifier
	Sessions auth.SessionAuth
	// Notes is the review service; a Notes that is also a QueueService
	// serves the queue's routes, else they answer 404. Required.
	Notes Notes
	// Templates lists the templates. Required.
	Templates TemplateLister
	// ConnectorFor is the connector a clinic's notes are filed with, for
	// patient lookup (a PatientSearcher); nil or nil's answer: lookup is
	// unavailable.
	ConnectorFor func(clinic string) any
	// MaxBodyBytes bounds request bodies (1 MiB when zero).
	MaxBodyBytes int64
	// MaxEventStreams bounds one user's open GET /v1/events streams (8
	// when zero); past it 429 too_many_streams.
	MaxEventStreams int
	// OnApproved is called after a note is approved or a push is retried,
	// to wake the push worker. Optional; must not block.
	OnApproved func()
	// Drain, when closed, ends every open event stream: the gateway is
	// shutting down.
	Drain <-chan struct{}
	// WriteError answers an error (apierror.From's status and code), so
	// that the gateway logs and counts every refusal alike; nil:
	// apierror.Write, which neither logs nor counts.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives what the API cannot answer (a lock it could not
	// read, a failed lookup), with ids only; slog.Default() when nil.
	Logger *slog.Logger
}

// API serves the note REST API. It is safe for concurrent use.
type API struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	streams map[streamKey]int // open event streams by user
}

// streamKey is one user of one clinic, whose event streams are counted.
type streamKey struct{ clinic, subject string }

// New builds the API.
func New(opts Options) *API {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxEventStreams <= 0 {
		opts.MaxEventStreams = 8
	}
	if opts.WriteError == nil {
		opts.WriteError = func(w http.ResponseWriter, _ *http.Request, err error) { apierror.Write(w, err) }
	}
	return &API{opts: opts, log: cmp.Or(opts.Logger, slog.Default()), streams: map[streamKey]int{}}
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/notes", a.serve(a.listNotes))
	mux.HandleFunc("GET /v1/notes/{id}", a.serve(a.getNote))
	mux.HandleFunc("PUT /v1/notes/{id}", a.serve(a.editNote))
	mux.HandleFunc("POST /v1/notes/{id}/approve", a.serve(a.approveNote))
	mux.HandleFunc("POST /v1/notes/{id}/reject", a.serve(a.rejectNote))
	mux.HandleFunc("POST /v1/notes/{id}/retry", a.serve(a.retryNote))
	mux.HandleFunc("GET /v1/notes/{id}/audit", a.serve(a.auditNote))
	mux.HandleFunc("GET /v1/notes/counts", a.serve(a.noteCounts))
	mux.HandleFunc("POST /v1/notes/{id}/lock", a.serve(a.lockNote))
	mux.HandleFunc("DELETE /v1/notes/{id}/lock", a.serve(a.unlockNote))
	mux.HandleFunc("GET /v1/events", a.serve(a.events))
	mux.HandleFunc("GET /v1/templates", a.serve(a.listTemplates))
	mux.HandleFunc("GET /v1/patients", a.serve(a.searchPatients, review.RoleClinician))
}

// handler is a route's work for an authenticated caller c: it answers the
// request, or returns the error the caller is answered with instead, before
// it has written anything.
type handler func(w http.ResponseWriter, r *http.Request, c auth.Claims) error

// serve authenticates the caller (in one of roles, when any are named)
// and runs h; a refused caller, or h's error, is answered by writeError,
// so every route starts and fails the same way.
func (a *API) serve(h handler, roles ...review.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, _, err := auth.Authenticate(r, a.opts.Auth, a.opts.Sessions, roles...)
		if err == nil {
			err = h(w, r, c)
		}
		if err != nil {
			a.writeError(w, r, err)
		}
	}
}

var _ TemplateLister = (*notes.Templates)(nil)

func (api *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	api.opts.WriteError(w, r, err)
}
