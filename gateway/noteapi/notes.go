package noteapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
)

// Summary is a note as queues list it: everything but the transcript
// and the draft, which an hour-long consultation makes large.
type Summary struct {
	ID              string       `json:"id"`
	Clinic          string       `json:"clinic"`
	Clinician       string       `json:"clinician"`
	ClinicianName   string       `json:"clinician_name,omitempty"`
	Patient         string       `json:"patient"`
	Encounter       string       `json:"encounter,omitempty"`
	Template        string       `json:"template"`
	Connector       string       `json:"connector"`
	State           review.State `json:"state"`
	Version         int          `json:"version"`
	CreatedAt       time.Time    `json:"created_at"`
	UpdatedAt       time.Time    `json:"updated_at"`
	ApprovedBy      string       `json:"approved_by,omitempty"`
	ApprovedAt      time.Time    `json:"approved_at,omitzero"`
	ApprovedVersion int          `json:"approved_version,omitempty"`
	PushedAt        time.Time    `json:"pushed_at,omitzero"`
	ExternalID      string       `json:"external_id,omitempty"`
	PushError       string       `json:"push_error,omitempty"`
	ReviewURL       string       `json:"review_url"`
}

func summarize(n *review.Note) Summary {
	return Summary{
		ID: n.ID, Clinic: n.Clinic, Clinician: n.Clinician, ClinicianName: n.ClinicianName,
		Patient: n.Patient, Encounter: n.Encounter, Template: n.Template, Connector: n.Connector,
		State: n.State, Version: n.Version, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt,
		ApprovedBy: n.ApprovedBy, ApprovedAt: n.ApprovedAt, ApprovedVersion: n.ApprovedVersion,
		PushedAt: n.PushedAt, ExternalID: n.ExternalID, PushError: n.PushError,
		ReviewURL: ReviewURL(n.ID),
	}
}

// ReviewURL is where a note is read and reviewed through the API, as
// NoteReady and the queue's Summary give it.
func ReviewURL(id string) string { return "/v1/notes/" + id }

// List is the answer to GET /v1/notes: a page of summaries, and the
// cursor of the next page when there is one.
type List struct {
	Notes []Summary `json:"notes"`
	Next  string    `json:"next,omitempty"`
}

var knownStates = map[review.State]bool{
	review.StateRecording: true, review.StateDrafting: true, review.StatePendingReview: true,
	review.StateApproved: true, review.StatePushing: true, review.StatePushed: true,
	review.StatePushFailed: true, review.StateRejected: true,
}

func (api *API) listNotes(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	q := review.Query{Clinic: c.Clinic}
	vals := r.URL.Query()
	for key := range vals {
		switch key {
		case "state", "patient", "clinician", "cursor", "limit", "since", "until":
		default:
			return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedParameter,
				Message: fmt.Sprintf("query parameter %q is not supported", key), Param: key}
		}
	}
	for _, v := range vals["state"] {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.TrimSpace(st)
			if !knownStates[review.State(st)] {
				return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidQuery,
					Message: fmt.Sprintf("unknown state %q", st), Param: "state"}
			}
			q.States = append(q.States, review.State(st))
		}
	}
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		v := vals.Get(b.name)
		if v == "" {
			continue
		}
		t, err := parseQueryTime(v)
		if err != nil {
			return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidQuery,
				Message: fmt.Sprintf("%s must be an RFC 3339 time or a date (YYYY-MM-DD)", b.name), Param: b.name}
		}
		*b.t = t
	}
	q.Patient = vals.Get("patient")
	q.Clinician = vals.Get("clinician")
	q.Cursor = vals.Get("cursor")
	if v := vals.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > review.MaxLimit {
			return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidQuery,
				Message: fmt.Sprintf("limit must be 1 to %d", review.MaxLimit), Param: "limit"}
		}
		q.Limit = n
	}
	page, err := api.opts.Notes.List(r.Context(), c.Actor(), q)
	if err != nil {
		return err
	}
	body := List{Notes: make([]Summary, 0, len(page.Notes)), Next: page.Next}
	for _, n := range page.Notes {
		body.Notes = append(body.Notes, summarize(n))
	}
	apierror.WriteJSON(w, http.StatusOK, body)
	return nil
}

// parseQueryTime reads since/until: an RFC 3339 time, or a date meaning
// its midnight UTC.
func parseQueryTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(time.DateOnly, v)
}

// noteWithLock is a note as GET shows it: the note's own fields and, while
// a reviewer holds it, the soft lock.
type noteWithLock struct {
	*review.Note
	Lock *review.Lock `json:"lock,omitempty"`
}

func (api *API) writeNote(w http.ResponseWriter, status int, n *review.Note) {
	w.Header().Set("ETag", etag(n.Version))
	apierror.WriteJSON(w, status, shown(n))
}

// shown is n as the API shows it: without the rollup's copy of the first
// draft's text (review.Rollup.Drafted), which the store keeps to measure
// the edits at approval and no client needs a second copy of.
func shown(n *review.Note) *review.Note {
	if n.Rollup == nil || n.Rollup.Drafted == nil {
		return n
	}
	c, r := *n, *n.Rollup
	r.Drafted = nil
	c.Rollup = &r
	return &c
}

func etag(version int) string { return `"v` + strconv.Itoa(version) + `"` }

func (api *API) getNote(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	n, err := api.opts.Notes.Get(r.Context(), c.Actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(n.Version))
	if m := r.Header.Get("If-None-Match"); m != "" && strings.TrimPrefix(m, "W/") == etag(n.Version) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	apierror.WriteJSON(w, http.StatusOK, noteWithLock{Note: shown(n), Lock: api.noteLock(r, c.Actor(), n.ID)})
	return nil
}

type editBody struct {
	Version  *int           `json:"version"`
	Sections []note.Section `json:"sections"`
}

type versionBody struct {
	Version *int `json:"version"`
}

// approveBody names the version approved and, by id, the open flags of
// that version the approver acknowledged (review.Flag.ID).
type approveBody struct {
	Version           *int     `json:"version"`
	AcknowledgedFlags []string `json:"acknowledged_flags"`
}

type rejectBody struct {
	Version *int   `json:"version"`
	Reason  string `json:"reason"`
}

func (b *editBody) version() *int    { return b.Version }
func (b *versionBody) version() *int { return b.Version }
func (b *approveBody) version() *int { return b.Version }
func (b *rejectBody) version() *int  { return b.Version }

func (api *API) editNote(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	var b editBody
	return api.serveVersioned(w, r, c, &b, true, func(ctx context.Context, a review.Actor, id string, v int) (*review.Note, error) {
		if b.Sections == nil {
			return nil, apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidJSON, "sections is required")
		}
		return api.opts.Notes.Edit(ctx, a, id, v, b.Sections)
	})
}

func (api *API) approveNote(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	var b approveBody
	return api.serveVersioned(w, r, c, &b, false, func(ctx context.Context, a review.Actor, id string, v int) (*review.Note, error) {
		n, err := api.opts.Notes.Approve(ctx, a, id, v, b.AcknowledgedFlags...)
		if err == nil {
			api.kick()
		}
		return n, err
	})
}

func (api *API) rejectNote(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	var b rejectBody
	return api.serveVersioned(w, r, c, &b, false, func(ctx context.Context, a review.Actor, id string, v int) (*review.Note, error) {
		return api.opts.Notes.Reject(ctx, a, id, v, b.Reason)
	})
}

// serveVersioned serves a change made against a named version (edit,
// approve, reject) by caller c: decode body, settle the version from
// If-Match and the body, act, answer with the note. One path for all
// three keeps every change equally strict about versions.
func (api *API) serveVersioned(w http.ResponseWriter, r *http.Request, c auth.Claims, body interface{ version() *int }, bodyRequired bool, act func(ctx context.Context, a review.Actor, id string, version int) (*review.Note, error)) error {
	if err := api.decode(w, r, body, bodyRequired); err != nil {
		return err
	}
	version, err := requestVersion(r, body.version())
	if err != nil {
		return err
	}
	n, err := act(r.Context(), c.Actor(), r.PathValue("id"), version)
	if err != nil {
		return err
	}
	api.writeNote(w, http.StatusOK, n)
	return nil
}

func (api *API) retryNote(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	n, err := api.opts.Notes.RetryPush(r.Context(), c.Actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	api.kick()
	api.writeNote(w, http.StatusOK, n)
	return nil
}

// Audit is the answer to GET /v1/notes/{id}/audit: the note's history.
type Audit struct {
	Entries []review.AuditEntry `json:"entries"`
}

func (api *API) auditNote(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	entries, err := api.opts.Notes.Audit(r.Context(), c.Actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []review.AuditEntry{}
	}
	apierror.WriteJSON(w, http.StatusOK, Audit{Entries: entries})
	return nil
}

func (api *API) kick() {
	if api.opts.OnApproved != nil {
		api.opts.OnApproved()
	}
}

// decode reads a JSON body strictly: unknown fields, trailing data and
// oversized bodies are refused, so a typo never silently edits nothing. An
// empty body is accepted when required is false.
func (api *API) decode(w http.ResponseWriter, r *http.Request, v any, required bool) error {
	body := http.MaxBytesReader(w, r.Body, api.opts.MaxBodyBytes)
	b, err := io.ReadAll(body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return apierror.Errorf(http.StatusRequestEntityTooLarge, apierror.CodeBodyTooLarge, "body is larger than %d bytes", tooBig.Limit)
	case err != nil:
		return apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidJSON, "cannot read body")
	case len(strings.TrimSpace(string(b))) == 0:
		if required {
			return apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidJSON, "a JSON body is required")
		}
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidJSON, "body is not valid JSON for this request: %v", err)
	}
	if dec.More() {
		return apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidJSON, "body has data after the JSON value")
	}
	return nil
}

// requestVersion is the version a change is made against: If-Match "vN"
// or the body's version; both must agree when both are given. A change that
// names no version is refused, so nobody approves text they have not seen.
func requestVersion(r *http.Request, fromBody *int) (int, error) {
	header := 0
	if m := strings.TrimSpace(r.Header.Get("If-Match")); m != "" {
		m = strings.TrimPrefix(m, "W/")
		v, err := strconv.Atoi(strings.TrimPrefix(strings.Trim(m, `"`), "v"))
		if err != nil || v < 1 || !strings.HasPrefix(strings.Trim(m, `"`), "v") {
			return 0, apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidVersion, `If-Match must be an ETag of this API, like "v3"`)
		}
		header = v
	}
	switch {
	case fromBody != nil && *fromBody < 1:
		return 0, apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidVersion, "version must be 1 or more")
	case fromBody != nil && header != 0 && *fromBody != header:
		return 0, apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidVersion, "If-Match names version %d but the body names %d", header, *fromBody)
	case fromBody != nil:
		return *fromBody, nil
	case header != 0:
		return header, nil
	}
	return 0, apierror.Errorf(http.StatusPreconditionRequired, apierror.CodeVersionRequired,
		`name the version you reviewed: If-Match: "vN" or {"version": N}`)
}
