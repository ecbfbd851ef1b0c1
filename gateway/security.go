package gateway

import (
	"fmt"
	"net/http"
	"strings"
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
		return "", &apiError{Status: http.StatusBadRequest, Code: CodeUnknownConnector, Param: "connector",
			Message: fmt.Sprintf("connector %.64q is not configured for your clinic", named)}
	}
	return named, nil
}

// CodeTooManyStreams answers GET /v1/events past Limits.MaxEventStreams.
const CodeTooManyStreams = "too_many_streams"

// holdStream counts an event stream against its user's bound
// (Limits.MaxEventStreams), or refuses it; release gives the slot back.
func (s *Server) holdStream(c Claims) (release func(), err error) {
	k := clinicianKey{c.Clinic, c.Subject}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[k] >= s.limits.MaxEventStreams {
		return nil, errorf(http.StatusTooManyRequests, CodeTooManyStreams,
			"you already have %d event streams open; close one first", s.limits.MaxEventStreams)
	}
	if s.streams == nil {
		s.streams = map[clinicianKey]int{}
	}
	s.streams[k]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.streams[k]--; s.streams[k] <= 0 {
			delete(s.streams, k)
		}
	}, nil
}
