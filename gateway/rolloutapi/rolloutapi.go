// Package rolloutapi serves GET /v1/metrics/rollout: a clinic's rollout
// figures (package review/rollout) over a period, as JSON or CSV, to the
// clinic's admins and reviewers. The gateway authenticates the caller and
// mounts the handler; the figures are always of the caller's own clinic,
// whatever the request says.
package rolloutapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/rollout"
)

// Period bounds.
const (
	// DefaultPeriod is the period when since is not given.
	DefaultPeriod = 90 * 24 * time.Hour
	// MaxPeriod bounds the work of one request.
	MaxPeriod = 366 * 24 * time.Hour
)

// ParamError refuses a query parameter; the gateway answers it with a
// 400 and the parameter's name.
type ParamError struct {
	Param string
	// Unsupported is set for a parameter the endpoint does not know.
	Unsupported bool
	Message     string
}

func (e *ParamError) Error() string { return "rolloutapi: " + e.Param + ": " + e.Message }

// Handler answers rollout queries from a Reader and the pilot groups.
type Handler struct {
	reader *rollout.Reader
	pilots rollout.Pilots
	// Now is the clock (time.Now); tests pin it.
	Now func() time.Time
	// Log records responses cut short by the client (slog.Default()).
	Log *slog.Logger
}

// New returns a Handler.
func New(r *rollout.Reader, p rollout.Pilots) *Handler {
	return &Handler{reader: r, pilots: p, Now: time.Now, Log: slog.Default()}
}

// Serve answers GET /v1/metrics/rollout for a, already authenticated:
// since and until (RFC 3339, or a date for its midnight UTC; until
// defaults to now, since to DefaultPeriod before until), group_by
// (clinician or template) and format (json or csv; Accept: text/csv asks
// for CSV too). Bad parameters are a *ParamError; a role other than admin
// or reviewer wraps review.ErrForbidden. Serve returns an error only
// before it has written anything, so the caller may always answer it.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, a review.Actor) error {
	if a.Role != review.RoleAdmin && a.Role != review.RoleReviewer {
		return fmt.Errorf("%w: rollout figures are for the clinic's admins and reviewers", review.ErrForbidden)
	}
	q, csv, err := h.parse(r)
	if err != nil {
		return err
	}
	q.Clinic = a.Clinic
	q.Groups = h.pilots.Of(a.Clinic)
	rows, err := h.reader.Read(r.Context(), q.Clinic, q.Since, q.Until)
	if err != nil {
		return err
	}
	rep := rollout.Compute(rows, q)
	// The body is encoded whole before the status is written: an error
	// while encoding is still answered with an error status, and once the
	// status is out nothing is returned for the caller to answer again.
	var body bytes.Buffer
	if csv {
		err = rollout.WriteCSV(&body, rep)
	} else {
		err = json.NewEncoder(&body).Encode(rep)
	}
	if err != nil {
		return fmt.Errorf("rolloutapi: encode the report: %w", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	if csv {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="rollout-%s-%s.csv"`,
			q.Since.Format("20060102"), q.Until.Format("20060102")))
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(http.StatusOK)
	if _, err := body.WriteTo(w); err != nil {
		// The client went away: the status is sent and the response is
		// cut short (its Content-Length says so); there is no one to tell.
		h.Log.DebugContext(r.Context(), "rollout response cut short", "clinic", q.Clinic, "err", err)
	}
	return nil
}

func (h *Handler) parse(r *http.Request) (rollout.Query, bool, error) {
	vals := r.URL.Query()
	for key := range vals {
		switch key {
		case "since", "until", "group_by", "format":
		default:
			return rollout.Query{}, false, &ParamError{Param: key, Unsupported: true, Message: fmt.Sprintf("query parameter %q is not supported", key)}
		}
	}
	var q rollout.Query
	until := h.Now().UTC()
	if v := vals.Get("until"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return q, false, &ParamError{Param: "until", Message: err.Error()}
		}
		until = t
	}
	since := until.Add(-DefaultPeriod)
	if v := vals.Get("since"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return q, false, &ParamError{Param: "since", Message: err.Error()}
		}
		since = t
	}
	switch {
	case !until.After(since):
		return q, false, &ParamError{Param: "since", Message: "since must be before until"}
	case until.Sub(since) > MaxPeriod:
		return q, false, &ParamError{Param: "since", Message: fmt.Sprintf("the period is longer than %d days", int(MaxPeriod.Hours()/24))}
	}
	q.Since, q.Until = since, until
	switch g := vals.Get("group_by"); g {
	case "", rollout.ByClinician, rollout.ByTemplate:
		q.GroupBy = g
	default:
		return q, false, &ParamError{Param: "group_by", Message: fmt.Sprintf("group_by is clinician or template, not %q", g)}
	}
	csv := false
	switch f := vals.Get("format"); f {
	case "csv":
		csv = true
	case "json":
	case "":
		csv = acceptsCSV(r.Header.Values("Accept"))
	default:
		return q, false, &ParamError{Param: "format", Message: fmt.Sprintf("format is json or csv, not %q", f)}
	}
	return q, csv, nil
}

// acceptsCSV reports whether the Accept header prefers text/csv to JSON
// (the first of them listed).
func acceptsCSV(accept []string) bool {
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			switch mt {
			case "text/csv":
				return true
			case "application/json":
				return false
			}
		}
	}
	return false
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a date (YYYY-MM-DD)", v)
}
