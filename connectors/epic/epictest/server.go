package epictest

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

// Paths of the stand-in, as on an Epic interconnect server.
const (
	TokenPath = "/interconnect-fhir-oauth/oauth2/token"
	FHIRPath  = "/interconnect-fhir-oauth/api/FHIR/R4"
)

// Server is a running Epic stand-in: the token endpoint and a FHIR base
// that enforces Epic's clinical-note create rules before handing the
// request to a fhirtest.Server (which validates against the R4 schema,
// stores, and injects faults).
type Server struct {
	// URL is the server root; TokenURL and BaseURL are what the connector
	// is configured with.
	URL, TokenURL, BaseURL string
	Auth                   *Authorizer
	// FHIR is the store behind the rules: seed Patients and Encounters,
	// inject faults and inspect what was filed through it. Its searches
	// page (fhirtest.Server.SetPaging).
	FHIR *fhirtest.Server
	// Token is the token endpoint behind fault injection.
	Token *fhirtest.TokenFaults
}

// Registration is the client as registered with Epic.
type Registration struct {
	ClientID  string
	KeyID     string
	PublicKey crypto.PublicKey
	Algorithm string
	// TokenLifetime defaults to an hour.
	TokenLifetime time.Duration
}

// NewServer starts a stand-in for the registered client, closed when the
// test ends.
func NewServer(t testing.TB, reg Registration) *Server {
	t.Helper()
	fs := fhirtest.New(fhirtest.Schema(t))
	s := &Server{FHIR: fs}
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	s.TokenURL = ts.URL + TokenPath
	s.BaseURL = ts.URL + FHIRPath
	fs.URL = s.BaseURL
	s.Auth = &Authorizer{
		ClientID: reg.ClientID, KeyID: reg.KeyID, PublicKey: reg.PublicKey,
		Algorithm: reg.Algorithm, TokenURL: s.TokenURL, TokenLifetime: reg.TokenLifetime,
	}
	fs.SetAuth(func(r *http.Request) error {
		if !s.Auth.Check(r) {
			return errors.New("access token missing, expired or revoked")
		}
		return nil
	})
	s.Token = &fhirtest.TokenFaults{Handler: s.Auth}
	mux.Handle(TokenPath, s.Token)
	mux.Handle(FHIRPath+"/", http.StripPrefix(FHIRPath, http.HandlerFunc(s.serveFHIR)))
	return s
}

// serveFHIR applies Epic's behaviour on top of the generic server.
func (s *Server) serveFHIR(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	switch {
	case path == "DocumentReference" && r.Method == http.MethodPost:
		s.createNote(w, r)
	case path == "DocumentReference" && r.Method == http.MethodGet:
		s.searchNotes(w, r)
	default:
		s.FHIR.ServeHTTP(w, r)
	}
}

// createNote enforces DocumentReference.Create (Clinical Notes): Epic has
// no conditional create (If-None-Exist is ignored), needs an encounter of
// the same patient, keeps only the first attachment which must be base64
// text/plain, and answers 201 with a relative Location and no body.
func (s *Server) createNote(w http.ResponseWriter, r *http.Request) {
	if !s.Auth.Check(r) {
		// Let the generic server answer the 401 the same way as elsewhere.
		s.FHIR.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		outcome(w, http.StatusBadRequest, "structure", "unreadable body")
		return
	}
	var dr struct {
		ResourceType string `json:"resourceType"`
		Status       string `json:"status"`
		DocStatus    string `json:"docStatus"`
		Subject      struct {
			Reference string `json:"reference"`
		} `json:"subject"`
		Context struct {
			Encounter []struct {
				Reference string `json:"reference"`
			} `json:"encounter"`
		} `json:"context"`
		Content []fhirdoc.Content `json:"content"`
	}
	if err := json.Unmarshal(body, &dr); err != nil || dr.ResourceType != "DocumentReference" {
		outcome(w, http.StatusBadRequest, "structure", "body is not a DocumentReference")
		return
	}
	if dr.Status != "current" {
		outcome(w, http.StatusBadRequest, "value", "status must be current")
		return
	}
	if dr.DocStatus != "final" && dr.DocStatus != "preliminary" {
		outcome(w, http.StatusBadRequest, "value", "docStatus must be final or preliminary")
		return
	}
	if len(dr.Context.Encounter) == 0 || dr.Context.Encounter[0].Reference == "" {
		outcome(w, http.StatusBadRequest, "required", "context.encounter is required")
		return
	}
	if err := s.encounterOf(dr.Context.Encounter[0].Reference, dr.Subject.Reference); err != nil {
		outcome(w, http.StatusBadRequest, "value", err.Error())
		return
	}
	if len(dr.Content) == 0 {
		outcome(w, http.StatusBadRequest, "required", "content is required")
		return
	}
	first := dr.Content[0].Attachment
	mt, params, err := mime.ParseMediaType(first.ContentType)
	if err != nil || mt != "text/plain" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		outcome(w, http.StatusBadRequest, "value", "content[0].attachment.contentType must be text/plain")
		return
	}
	if _, err := base64.StdEncoding.DecodeString(first.Data); err != nil || first.Data == "" {
		outcome(w, http.StatusBadRequest, "value", "content[0].attachment.data must be base64 text")
		return
	}
	// Keep only the first attachment, as Epic does.
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	if c, ok := m["content"].([]any); ok && len(c) > 1 {
		m["content"] = c[:1]
		body, _ = json.Marshal(m)
	}
	fr := r.Clone(r.Context())
	fr.Body = io.NopCloser(bytes.NewReader(body))
	fr.ContentLength = int64(len(body))
	fr.Header.Del("If-None-Exist")
	rep := r.Header.Get("Prefer")
	if !strings.Contains(rep, "return=representation") {
		fr.Header.Set("Prefer", "return=minimal")
	}
	s.FHIR.ServeHTTP(&relativeLocation{ResponseWriter: w, base: s.BaseURL}, fr)
}

// encounterOf checks that encounterRef names a stored Encounter of the
// patient patientRef.
func (s *Server) encounterOf(encounterRef, patientRef string) error {
	id, ok := strings.CutPrefix(encounterRef, "Encounter/")
	if !ok {
		return fmt.Errorf("context.encounter %q is not an Encounter reference", encounterRef)
	}
	for _, raw := range s.FHIR.Resources("Encounter") {
		var e struct {
			ID      string `json:"id"`
			Subject struct {
				Reference string `json:"reference"`
			} `json:"subject"`
		}
		if json.Unmarshal(raw, &e) != nil || e.ID != id {
			continue
		}
		if e.Subject.Reference != patientRef {
			return fmt.Errorf("encounter %s is not an encounter of %s", id, patientRef)
		}
		return nil
	}
	return fmt.Errorf("encounter %s not found", id)
}

// searchNotes implements DocumentReference?patient=&encounter= for notes.
// Like Epic's clinical-notes search it requires the patient and does not
// search by identifier; the generic server then answers, paged.
func (s *Server) searchNotes(w http.ResponseWriter, r *http.Request) {
	if !s.Auth.Check(r) {
		s.FHIR.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	if q.Get("patient") == "" && q.Get("subject") == "" {
		outcome(w, http.StatusBadRequest, "required", "a patient or subject parameter is required")
		return
	}
	if q.Has("identifier") {
		outcome(w, http.StatusBadRequest, "not-supported", "identifier is not a supported search parameter for clinical notes")
		return
	}
	s.FHIR.ServeHTTP(w, r)
}

// relativeLocation rewrites an absolute Location to the relative form
// Epic sends ("DocumentReference/{id}").
type relativeLocation struct {
	http.ResponseWriter
	base string
}

func (w *relativeLocation) WriteHeader(status int) {
	if loc := w.Header().Get("Location"); loc != "" {
		loc = strings.TrimPrefix(loc, strings.TrimSuffix(w.base, "/")+"/")
		if i := strings.Index(loc, "/_history/"); i >= 0 {
			loc = loc[:i]
		}
		w.Header().Set("Location", loc)
	}
	w.ResponseWriter.WriteHeader(status)
}

func outcome(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	w.Write(fhirtest.OperationOutcome(code, msg))
}
