// Package apierror is the gateway's error answer: the error value handlers
// return, the stable codes clients branch on (Codes documents each, and the
// README's error tables are rendered from it), and the one JSON shape every
// REST error has.
package apierror

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/scribegate/scribegate/review"
)

// Error is an error with the HTTP status and stable code it is answered
// with, so handlers can return one value and let the server render it.
type Error struct {
	Status  int
	Code    string
	Message string
	// CurrentVersion is set for version conflicts so clients can reload.
	CurrentVersion int
	// Param names the offending query parameter, when there is one.
	Param string
	// Flags lists the open flags an approval did not acknowledge.
	Flags []review.Flag
	// Lock is the soft lock another reviewer holds (note_locked).
	Lock *review.Lock
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf is an Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Body is the one JSON shape every REST error has.
type Body struct {
	Error Detail `json:"error"`
	// Deepgram's fields, on /v1/listen only.
	ErrCode   string `json:"err_code,omitempty"`
	ErrMsg    string `json:"err_msg,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Lock says who holds a note and until when, with note_locked.
	Lock *review.Lock `json:"lock,omitempty"`
}

// Detail is Body's "error" object.
type Detail struct {
	Code           string        `json:"code"`
	Message        string        `json:"message"`
	CurrentVersion int           `json:"current_version,omitempty"`
	Param          string        `json:"param,omitempty"`
	Flags          []review.Flag `json:"flags,omitempty"`
}

// Body is the JSON answer of e.
func (e *Error) Body() Body {
	return Body{Error: Detail{
		Code: e.Code, Message: e.Message, CurrentVersion: e.CurrentVersion, Param: e.Param, Flags: e.Flags,
	}, Lock: e.Lock}
}

// From maps an error to its answer: an *Error as it is, the review
// service's errors to their codes; anything it does not recognise is an
// internal error whose detail stays in the caller's log.
func From(err error) *Error {
	var ae *Error
	var se *review.StateError
	var ve *review.VersionError
	var fe *review.FlagsError
	var le *review.LockedError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, review.ErrNotFound):
		return Errorf(http.StatusNotFound, CodeNoteNotFound, "note not found")
	case errors.Is(err, review.ErrForbidden):
		return Errorf(http.StatusForbidden, CodeForbidden, "your role does not allow this")
	case errors.As(err, &se):
		want := review.StatePendingReview
		switch se.Action {
		case "retry push of":
			want = review.StatePushFailed
		}
		return Errorf(http.StatusConflict, CodeInvalidState, "cannot %s: note is %s, not %s", se.Action, se.State, want)
	case errors.Is(err, review.ErrUnavailable):
		return Errorf(http.StatusServiceUnavailable, CodeStoreUnavailable, "the store is unavailable for now; try again")
	case errors.Is(err, review.ErrBadCursor):
		// Stable text: the decoder's own says nothing a client can use.
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidQuery, Param: "cursor",
			Message: "cursor is not one this API returned; start again without it"}
	case errors.Is(err, review.ErrInvalid):
		return Errorf(http.StatusBadRequest, CodeInvalidRequest, "%s", strings.TrimPrefix(err.Error(), "review: "))
	case errors.As(err, &ve):
		e := Errorf(http.StatusPreconditionFailed, CodeVersionConflict,
			"version %d is stale; current version is %d", ve.Given, ve.Current)
		e.CurrentVersion = ve.Current
		return e
	case errors.As(err, &fe):
		e := Errorf(http.StatusConflict, CodeUnacknowledgedFlags,
			"%d open flag(s) of this version are not acknowledged; list them in acknowledged_flags", len(fe.Missing))
		e.Flags = fe.Missing
		return e
	case errors.As(err, &le):
		who := cmp.Or(le.Lock.Name, le.Lock.Holder)
		e := Errorf(http.StatusConflict, CodeNoteLocked, "%s is editing this note until %s", who, le.Lock.ExpiresAt.Format(time.RFC3339))
		e.Lock = &le.Lock
		return e
	}
	return Errorf(http.StatusInternalServerError, CodeInternal, "internal error")
}

// SetHeaders sets the headers e's answer carries: the Bearer challenge of
// a 401 (RFC 6750), Retry-After while the store is unavailable.
func SetHeaders(w http.ResponseWriter, e *Error) {
	switch {
	case e.Status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="scribegate"`)
	case e.Code == CodeStoreUnavailable:
		w.Header().Set("Retry-After", "1")
	}
}

// WriteJSON answers with v as JSON; a v that cannot be encoded is answered
// with the internal error's Body instead.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Write answers err as From maps it: its status, headers and Body.
func Write(w http.ResponseWriter, err error) {
	e := From(err)
	SetHeaders(w, e)
	WriteJSON(w, e.Status, e.Body())
}
