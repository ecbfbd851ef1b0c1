package gateway

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
)

// offer hands a resuming connection to its session, closing the
// connection the session still holds (a client that reconnects knows the
// old one is dead before the gateway does). It reports false when the
// session is finishing or another connection is already waiting.
//
// The connection to close is the one held before c is handed over: a
// session waiting for its client takes c at once, and looking after the
// hand-over would find c itself and close it (the resumed client saw its
// connection reset).
func (s *Server) offer(ss *session, c wsConn, resend bool) bool {
	old, ok := ss.conn.Offer(c, resend)
	if !ok {
		return false
	}
	if hook := s.afterOffer.Load(); hook != nil {
		(*hook)(ss, c)
	}
	if old != nil && old != c {
		// Taken over: told so with its own close code, which clients
		// must not answer by reconnecting (the new connection has the
		// session).
		ss.conn.TakeOver(old)
	}
	return true
}

// resume serves GET /v1/listen?session=<id>: the session, live in this
// gateway or rebuilt from the store, takes the new connection. It reports
// false, answering nothing, when the id names no session but is the
// client's own choice for a new one (clientChosen): listen starts it.
func (s *Server) resume(w http.ResponseWriter, r *http.Request, claims auth.Claims, viaProto bool, p listenParams) bool {
	rn, ok := s.opts.Notes.(recordingNotes)
	if s.opts.Audio == nil || !ok {
		if p.clientChosen() {
			return false
		}
		s.writeError(w, r, &apierror.Error{Status: http.StatusNotFound, Code: apierror.CodeUnknownSession, Param: "session", Message: "this gateway keeps no sessions to resume"})
		return true
	}
	unknown := &apierror.Error{Status: http.StatusNotFound, Code: apierror.CodeUnknownSession, Param: "session", Message: "no open session has this id"}
	check := func(clinic, clinician, patient, encounter string, rate int) error {
		if clinic != claims.Clinic {
			return unknown
		}
		if clinician != claims.Subject {
			return &apierror.Error{Status: http.StatusForbidden, Code: apierror.CodeForbidden, Param: "session", Message: "the session is another clinician's"}
		}
		if p.patient != patient || (p.encounter != "" && p.encounter != encounter) {
			// Audio for one patient must never join another's note.
			return &apierror.Error{Status: http.StatusConflict, Code: apierror.CodeSessionMismatch, Param: "patient",
				Message: "the session records another patient or encounter; resume it with the same patient (and encounter), or start a new session"}
		}
		if p.sampleRateSet && p.sampleRate != rate {
			return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedSampleRate, Param: "sample_rate",
				Message: fmt.Sprintf("the session's audio is at %d Hz; resume it at that rate", rate)}
		}
		return nil
	}
	ss := s.lookup(p.session)
	if ss != nil {
		if err := check(ss.claims.Clinic, ss.claims.Subject, ss.p.patient, ss.p.encounter, ss.p.sampleRate); err != nil {
			s.writeError(w, r, err)
			return true
		}
		if ss.conn.Busy() {
			s.writeError(w, r, &apierror.Error{Status: http.StatusConflict, Code: apierror.CodeSessionInUse, Param: "session",
				Message: "the session is streaming on another connection; it can be resumed once that one stops"})
			return true
		}
	} else {
		n, err := rn.SessionNote(r.Context(), p.session)
		if errors.Is(err, review.ErrNotFound) && p.clientChosen() {
			return false
		}
		if errors.Is(err, review.ErrNotFound) || (err == nil && (n.State != review.StateRecording || n.SessionID != p.session)) {
			s.writeError(w, r, unknown)
			return true
		}
		if err != nil {
			s.writeError(w, r, err)
			return true
		}
		rate := 16000
		if n.Recording != nil && n.Recording.SampleRate > 0 {
			rate = n.Recording.SampleRate
		}
		if err := check(n.Clinic, n.Clinician, n.Patient, n.Encounter, rate); err != nil {
			s.writeError(w, r, err)
			return true
		}
		if s.isDraining() {
			s.writeError(w, r, apierror.Errorf(http.StatusServiceUnavailable, apierror.CodeShuttingDown, "the gateway is shutting down; reconnect to another instance"))
			return true
		}
		if ss, err = s.rebuildFor(r.Context(), n); err != nil {
			if heldElsewhere(err) {
				w.Header().Set("Retry-After", "1")
				err = &apierror.Error{Status: http.StatusConflict, Code: apierror.CodeSessionElsewhere, Param: "session",
					Message: "the session is live on another gateway instance; reconnect, and a load balancer may take you there"}
			}
			s.writeError(w, r, err)
			return true
		}
	}
	conn, err := s.upgrade(w, r, ss.id, viaProto)
	if err != nil {
		s.log.WarnContext(r.Context(), "websocket upgrade failed", "err", err)
		return true
	}
	if !s.offer(ss, conn, p.resume) {
		conn.WriteClose(websocket.CloseTryAgainLater, "session is finishing or busy")
		conn.Close()
	}
	return true
}
