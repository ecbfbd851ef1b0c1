package gateway

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/gateway/patientid"
	"github.com/scribegate/scribegate/review"
)

// noStore marks every /v1 answer "Cache-Control: no-store": notes,
// transcripts, queues and events carry PHI, which no browser cache or
// shared proxy may keep after the page is closed.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// routedConnector is the connector a clinic's notes are filed with: its
// route (Options.ConnectorFor), else Options.DefaultConnector.
func (s *Server) routedConnector(clinic string) string {
	if s.opts.ConnectorFor != nil {
		if c := s.opts.ConnectorFor(clinic); c != "" {
			return c
		}
	}
	return s.opts.DefaultConnector
}

// sessionConnector is the connector a session of clinic files with. A
// session may name only the connector routed to its clinic: naming
// another clinic's would file this clinic's notes in that clinic's EHR.
// Another clinic's connector is answered like one that does not exist,
// so a client learns nothing of other clinics' routes.
func (s *Server) sessionConnector(clinic, named string) (string, error) {
	routed := s.routedConnector(clinic)
	if named == "" {
		return routed, nil
	}
	if named != routed || s.opts.ConnectorExists == nil || !s.opts.ConnectorExists(named) {
		return "", &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnknownConnector, Param: "connector",
			Message: fmt.Sprintf("connector %.64q is not configured for your clinic", named)}
	}
	return named, nil
}

// connectorFor is the connector a clinic's notes are filed with
// (Options.Connector of its routed connector), or nil.
func (s *Server) connectorFor(clinic string) any {
	if s.opts.Connector == nil {
		return nil
	}
	return s.opts.Connector(s.routedConnector(clinic))
}

// authenticate is auth.Authenticate with the server's verifier and
// sign-in sessions.
func (s *Server) authenticate(r *http.Request, allowed ...review.Role) (auth.Claims, bool, error) {
	return auth.Authenticate(r, s.auth, s.opts.Sessions, allowed...)
}

// checkLaunch is auth.CheckLaunch with the server's sign-in sessions.
func (s *Server) checkLaunch(r *http.Request, patient, encounter string) error {
	return auth.CheckLaunch(r, s.opts.Sessions, patient, encounter)
}

// checkIDs is patientid.Check with the connector's patterns and its own
// rules (Options.IDPatterns, Options.Connector).
func (s *Server) checkIDs(connector, patient, encounter string) error {
	var own patientid.Validator
	if s.opts.Connector != nil {
		own, _ = s.opts.Connector(connector).(patientid.Validator)
	}
	return patientid.Check(s.opts.IDPatterns[connector], own, patient, encounter)
}
