package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/scribegate/scribegate/review"
)

// Stable error codes. Clients branch on these, so they never change meaning;
// ErrorCodes (errorcodes.go) says what each means.
const (
	CodeUnauthorized          = "unauthorized"
	CodeTokenExpired          = "token_expired"
	CodeInvalidToken          = "invalid_token"
	CodeForbidden             = "forbidden"
	CodeNotFound              = "not_found"
	CodeNoteNotFound          = "note_not_found"
	CodeInvalidState          = "invalid_state"
	CodeVersionConflict       = "version_conflict"
	CodeUnacknowledgedFlags   = "unacknowledged_flags"
	CodeVersionRequired       = "version_required"
	CodeInvalidVersion        = "invalid_version"
	CodeInvalidJSON           = "invalid_json"
	CodeInvalidRequest        = "invalid_request"
	CodeBodyTooLarge          = "body_too_large"
	CodeInvalidQuery          = "invalid_query"
	CodeUnsupportedParameter  = "unsupported_parameter"
	CodeUnsupportedEncoding   = "unsupported_encoding"
	CodeUnsupportedSampleRate = "unsupported_sample_rate"
	CodeUnsupportedChannels   = "unsupported_channels"
	CodeInvalidParameter      = "invalid_parameter"
	CodeMissingPatient        = "missing_patient"
	CodeUnknownTemplate       = "unknown_template"
	CodeUnknownConnector      = "unknown_connector"
	CodeUnknownSession        = "unknown_session"
	CodeSessionElsewhere      = "session_elsewhere"
	CodeShuttingDown          = "shutting_down"
	// CodeStoreUnavailable: the store cannot take writes for now (Redis
	// failing over, unreachable, or replicas not confirming): 503 with
	// Retry-After on REST; on a stream, close 1012 and resume later.
	CodeStoreUnavailable = "store_unavailable"
	// CodeSessionMismatch: a resume names another patient or encounter
	// than the session records.
	CodeSessionMismatch = "session_mismatch"
	// CodeLaunchMismatch: a session signed in by an EHR launch records
	// for another patient or encounter than the EHR launched with.
	CodeLaunchMismatch = "launch_mismatch"
	CodeInternal       = "internal"

	// Codes sent in WebSocket Error messages.
	CodeInvalidMessage     = "invalid_message"
	CodeUnknownMessageType = "unknown_message_type"
	CodeFrameTooLarge      = "frame_too_large"
	CodeSessionFailed      = "session_failed"
	CodeTranscriptionError = "transcription_failed"
	CodeDraftFailed        = "draft_failed"
	CodeMaxDuration        = "max_duration"
	// CodeAudioNotStored: the store has not taken Limits.MaxUnstored of
	// the session's audio; the connection is closed (1013) and the
	// session waits for the client to resume from its last Durable.
	CodeAudioNotStored = "audio_not_stored"
)

// apiError is an error with the HTTP status and stable code it is answered
// with, so handlers can return one value and let writeError render it.
type apiError struct {
	Status  int
	Code    string
	Message string
	// CurrentVersion is set for version conflicts so clients can reload.
	CurrentVersion int
	// Param names the offending query parameter, when there is one.
	Param string
	// Flags lists the open flags an approval did not acknowledge.
	Flags []review.Flag
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// errorBody is the one JSON shape every REST error has.
type errorBody struct {
	Error errorDetail `json:"error"`
	// Deepgram's fields, on /v1/listen only (deepgramError).
	ErrCode   string `json:"err_code,omitempty"`
	ErrMsg    string `json:"err_msg,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

type errorDetail struct {
	Code           string        `json:"code"`
	Message        string        `json:"message"`
	CurrentVersion int           `json:"current_version,omitempty"`
	Param          string        `json:"param,omitempty"`
	Flags          []review.Flag `json:"flags,omitempty"`
}

// reviewError maps the review service's errors to answers; anything it does
// not recognise is an internal error whose detail stays in the log.
func reviewError(err error) *apiError {
	var ae *apiError
	var se *review.StateError
	var ve *review.VersionError
	var fe *review.FlagsError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, review.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNoteNotFound, "note not found")
	case errors.Is(err, review.ErrForbidden):
		return errorf(http.StatusForbidden, CodeForbidden, "your role does not allow this")
	case errors.As(err, &se):
		want := review.StatePendingReview
		switch se.Action {
		case "retry push of":
			want = review.StatePushFailed
		}
		return errorf(http.StatusConflict, CodeInvalidState, "cannot %s: note is %s, not %s", se.Action, se.State, want)
	case errors.Is(err, review.ErrUnavailable):
		return errorf(http.StatusServiceUnavailable, CodeStoreUnavailable, "the store is unavailable for now; try again")
	case errors.Is(err, review.ErrBadCursor):
		// Stable text: the decoder's own says nothing a client can use.
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidQuery, Param: "cursor",
			Message: "cursor is not one this API returned; start again without it"}
	case errors.Is(err, review.ErrInvalid):
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "%s", strings.TrimPrefix(err.Error(), "review: "))
	case errors.As(err, &ve):
		e := errorf(http.StatusPreconditionFailed, CodeVersionConflict,
			"version %d is stale; current version is %d", ve.Given, ve.Current)
		e.CurrentVersion = ve.Current
		return e
	case errors.As(err, &fe):
		e := errorf(http.StatusConflict, CodeUnacknowledgedFlags,
			"%d open flag(s) of this version are not acknowledged; list them in acknowledged_flags", len(fe.Missing))
		e.Flags = fe.Missing
		return e
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "internal error")
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := reviewError(err)
	if ae.Code == CodeInternal {
		s.log.ErrorContext(r.Context(), "request failed", "route", r.Pattern, "note_id", r.PathValue("id"), "err", err)
	}
	s.metrics.errors.WithLabelValues(ae.Code).Inc()
	switch {
	case ae.Status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="scribegate"`)
	case ae.Code == CodeStoreUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	b := errorBody{Error: errorDetail{
		Code: ae.Code, Message: ae.Message, CurrentVersion: ae.CurrentVersion, Param: ae.Param, Flags: ae.Flags,
	}}
	deepgramError(w, r, &b)
	writeJSON(w, ae.Status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
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
