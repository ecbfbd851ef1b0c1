// Package gentutest is a local stand-in for the Gentu partner API, for tests:
// an OAuth 2.0 token endpoint that accepts only the client credentials grant
// with HTTP Basic client authentication, and a FHIR R4 API (fhirtest) that
// accepts only live bearer tokens it issued and the practice header, and
// refuses Patient searches with parameters it does not list
// (FHIR R4's name, given, family, birthdate, gender, identifier, _id, _count).
//
// Tokens are deliberately short-lived: each one is good for a fixed number
// of API requests (TokenUses), so a test run crosses token expiry without
// waiting on a clock, and Revoke expires every token at once.
package gentutest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/connectors/gentu"
	"github.com/scribegate/scribegate/connectors/internal/standin"
)

// Credentials the stand-in accepts.
const (
	ClientID     = "scribegate-test-client"
	ClientSecret = "test-only-secret-not-real"
	TenantHeader = "X-Gentu-Practice"
	TenantID     = "practice-42"
)

// patientSearchParams are the Patient search parameters the stand-in
// takes (FHIR R4's, for a lookup); others are refused with a 400
// OperationOutcome (fhirtest.StrictPatientSearch). Magentus documents no
// patient search: this is the standard shape the connector assumes.
var patientSearchParams = []string{"_id", "_count", "identifier", "name", "family", "given", "birthdate", "gender"}

// Server is the stand-in. Its FHIR base is URL+"/fhir/R4" and its token
// endpoint URL+"/oauth2/token".
type Server struct {
	URL  string
	FHIR *fhirtest.Server
	// TokenUses is how many API requests one token is good for.
	TokenUses int

	tokens standin.Tokens
}

// Settings are a gentu connector's settings for the stand-in: its URLs,
// credentials and practice header, with the client secret at secretFile
// (a test that reads it from the environment sets ClientSecretEnv
// instead).
func (s *Server) Settings(secretFile string) gentu.Settings {
	return gentu.Settings{
		BaseURL: s.BaseURL(),
		ClientCredentials: connectors.ClientCredentials{
			TokenURL: s.TokenURL(), ClientID: ClientID, ClientSecretFile: secretFile,
		},
		TenantHeader: TenantHeader, TenantID: TenantID,
	}
}

// New starts a stand-in, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{TokenUses: 3}
	s.FHIR = fhirtest.NewServer(t) // its own listener is unused; we mount the handler
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", s.token)
	// Authentication comes first, as on a real server: a request without
	// a live token is refused 401 (by the FHIR server's auth) whatever it
	// searches for; only an authorised search is held to the parameters.
	strict := fhirtest.StrictPatientSearch(s.FHIR, patientSearchParams...)
	mux.Handle("/fhir/R4/", http.StripPrefix("/fhir/R4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.check(r, false) != nil {
			s.FHIR.ServeHTTP(w, r)
			return
		}
		strict.ServeHTTP(w, r)
	})))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	s.FHIR.URL = ts.URL + "/fhir/R4"
	s.FHIR.SetAuth(s.authorize)
	return s
}

// BaseURL is the FHIR base to configure.
func (s *Server) BaseURL() string { return s.URL + "/fhir/R4" }

// TokenURL is the token endpoint to configure.
func (s *Server) TokenURL() string { return s.URL + "/oauth2/token" }

// TokensIssued counts successful token requests.
func (s *Server) TokensIssued() int { return s.tokens.Issued() }

// Revoke expires every issued token.
func (s *Server) Revoke() { s.tokens.RevokeAll() }

// token is the client credentials grant (RFC 6749 section 4.4) with the
// client authenticated by HTTP Basic (section 2.3.1); errors use the
// section 5.2 JSON shape.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication must use HTTP Basic")
		return
	}
	if id != ClientID || secret != ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}
	if r.PostForm.Get("client_secret") != "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client secret must not be sent in the body")
		return
	}
	tok := s.tokens.Issue(time.Time{}, max(s.TokenUses, 0)) // a count below zero is none, not any
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 300})
}

// authorize admits an API request, using up one of its token's uses.
func (s *Server) authorize(r *http.Request) error { return s.check(r, true) }

// check admits r if it names the practice and carries a live token; spend
// uses one of the token's uses up.
func (s *Server) check(r *http.Request, spend bool) error {
	if r.Header.Get(TenantHeader) != TenantID {
		return errors.New("missing or unknown practice header " + TenantHeader)
	}
	if spend {
		return s.tokens.Spend(r, time.Now())
	}
	return s.tokens.Check(r, time.Now())
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="gentu"`)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
