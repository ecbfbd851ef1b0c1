// Package athenatest is a local stand-in for athenahealth's API, for the
// athena connector's tests and for trying the connector without a preview
// practice: the OAuth 2.0 client-credentials token endpoint
// (/oauth2/v1/token, client id and secret in HTTP Basic authentication),
// the patient search and read (GET /v1/{practiceid}/patients,
// …/patients/{patientid}; see AddPatient), and the clinical and encounter
// document endpoints
// (/v1/{practiceid}/patients/{patientid}/documents/clinicaldocument and
// …/encounterdocument, POST form-encoded to add, GET to list, paged with
// limit and offset and a next link) with the form fields and subclasses
// athenahealth documents for each class, its {"error": …} replies, and
// injectable faults on the API and (Token) on the token endpoint.
package athenatest

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/athena"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/connectors/internal/standin"
)

// Subclasses are the documentsubclass values each document endpoint takes
// (athenahealth's document classification guide).
var Subclasses = map[string][]string{
	"clinicaldocument": {
		"CLINICALDOCUMENT",
		"CLINICALDOCUMENT_ADMISSIONDISCHARGE",
		"CLINICALDOCUMENT_CONSULTNOTE",
		"CLINICALDOCUMENT_MENTALHEALTH",
		"CLINICALDOCUMENT_OPERATIVENOTE",
		"CLINICALDOCUMENT_URGENTCARE",
	},
	"encounterdocument": {
		"ENCOUNTERDOCUMENT_IMAGEDOC",
		"ENCOUNTERDOCUMENT_PATIENTHISTORY",
		"ENCOUNTERDOCUMENT_PROCEDUREDOC",
		"ENCOUNTERDOCUMENT_PROGRESSNOTE",
	},
}

// knownFields are the form fields of "Add clinical document to patient's
// chart" and "Add encounter document"; anything else is refused so a
// misspelt or misplaced field fails the test.
var knownFields = map[string][]string{
	"clinicaldocument": {
		"attachmentcontents", "attachmenttype", "autoclose", "clinicalproviderid",
		"departmentid", "documentdata", "documentsubclass", "documenttypeid",
		"entityid", "entitytype", "internalnote", "observationdate",
		"observationtime", "originalfilename", "priority", "providerid",
	},
	"encounterdocument": {
		"appointmentid", "attachmentcontents", "departmentid", "documentdata",
		"documentsubclass", "encounterid", "entityid", "entitytype",
		"internalnote", "priority",
	},
}

// Document is a filed clinical document as the stand-in keeps it.
type Document struct {
	ID        int
	PatientID string
	// Class is "clinicaldocument" or "encounterdocument".
	Class  string
	Fields map[string]string
}

// Fault is a failure injected into the next matching API request (not the
// token endpoint).
type Fault struct {
	// Method selects requests ("" = any).
	Method string
	// Drop files a POST as normal, then closes the connection without a
	// reply.
	Drop bool
	// Status answers with this status and Body (default: an athena error
	// JSON) instead of handling the request.
	Status     int
	Body       string
	RetryAfter int
	// Delay holds the request this long (or until the client gives up)
	// before answering; with no Status the request is then handled.
	Delay time.Duration
}

// Server is a running stand-in.
type Server struct {
	URL          string
	ClientID     string
	ClientSecret string
	PracticeID   string
	// Departments and Patients are what exists in the practice.
	Departments []string
	Patients    []string
	// TokenLifetime defaults to an hour, as athenahealth's tokens.
	TokenLifetime time.Duration
	// PageSize is the largest list page served, whatever limit asks for
	// (default 100).
	PageSize int
	// Token is the token endpoint behind fault injection.
	Token *fhirtest.TokenFaults

	faults   standin.Faults[Fault]
	requests standin.Log[string]
	tokens   standin.Tokens

	mu     sync.Mutex
	charts map[string]Patient
	docs   []Document
}

// Settings are an athena connector's settings for the stand-in: its URL,
// client id, practice and first department, and a 5s timeout. The secret
// is not in them: a test passes ClientSecret in athena.Options, or names a
// file or variable holding it.
func (s *Server) Settings() athena.Settings {
	return athena.Settings{
		BaseURL: s.URL, ClientCredentials: connectors.ClientCredentials{ClientID: s.ClientID},
		PracticeID: s.PracticeID, DepartmentID: s.Departments[0], Timeout: 5 * time.Second,
	}
}

// NewServer starts a stand-in for one practice, closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		ClientID: "athena-test-client", ClientSecret: rand.Text(), PracticeID: "195900",
		Departments: []string{"1"}, Patients: []string{"60178", "60179"},
	}
	s.Token = &fhirtest.TokenFaults{Handler: http.HandlerFunc(s.token)}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// Issued counts tokens issued.
func (s *Server) Issued() int { return s.tokens.Issued() }

// Documents returns the filed clinical documents.
func (s *Server) Documents() []Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.docs)
}

// Requests lists "METHOD path" of API requests received.
func (s *Server) Requests() []string { return s.requests.All() }

// RevokeAll invalidates issued tokens.
func (s *Server) RevokeAll() { s.tokens.RevokeAll() }

// Inject queues a fault for the next n matching requests.
func (s *Server) Inject(f Fault, n int) { s.faults.Inject(f, n) }

var docPath = regexp.MustCompile(`^/v1/([^/]+)/patients/([^/]+)/documents/(clinicaldocument|encounterdocument)$`)

// ServeHTTP routes the token endpoint and the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth2/v1/token" {
		s.Token.ServeHTTP(w, r)
		return
	}
	s.requests.Add(r.Method + " " + r.URL.Path)
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "Unauthorized", "Invalid or expired access token.")
		return
	}
	// Read the body now, so that the server notices a client that gives up
	// while a fault holds the request.
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	fault, faulted := s.faults.Take(func(f Fault) bool { return f.Method == "" || f.Method == r.Method })
	if faulted && fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if faulted && !fault.Drop && fault.Status != 0 {
		if fault.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(fault.RetryAfter))
		}
		if fault.Body != "" {
			w.WriteHeader(fault.Status)
			w.Write([]byte(fault.Body))
			return
		}
		writeError(w, fault.Status, "Injected failure.", fmt.Sprintf("athenatest: injected HTTP %d", fault.Status))
		return
	}
	if r.URL.Path == "/v1/"+s.PracticeID+"/ping" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]string{"pong": "true"})
		return
	}
	if m := patientPath.FindStringSubmatch(r.URL.Path); m != nil {
		if faulted && fault.Drop {
			panic(http.ErrAbortHandler)
		}
		s.patients(w, r, m[1], m[2])
		return
	}
	m := docPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeError(w, http.StatusNotFound, "Invalid endpoint.", r.URL.Path)
		return
	}
	if m[1] != s.PracticeID {
		writeError(w, http.StatusNotFound, "Invalid practice.", "The practice ID does not exist.")
		return
	}
	if !slices.Contains(s.Patients, m[2]) {
		writeError(w, http.StatusNotFound, "The patient is not valid.", "No patient with id "+m[2])
		return
	}
	switch r.Method {
	case http.MethodPost:
		if faulted && fault.Drop {
			s.add(httptest.NewRecorder(), r, m[2], m[3])
			panic(http.ErrAbortHandler)
		}
		s.add(w, r, m[2], m[3])
	case http.MethodGet:
		if faulted && fault.Drop {
			panic(http.ErrAbortHandler)
		}
		s.list(w, r, m[2], m[3])
	default:
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed.", "")
	}
}

// token implements client credentials with HTTP Basic client
// authentication.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if r.Method != http.MethodPost || !ok ||
		subtle.ConstantTimeCompare([]byte(id), []byte(s.ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.ClientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="athenahealth"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "client authentication failed"})
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if r.PostForm.Get("scope") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope", "error_description": "scope is required"})
		return
	}
	life := s.TokenLifetime
	if life <= 0 {
		life = time.Hour
	}
	tok := s.tokens.Issue(time.Now().Add(life), -1)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": strconv.Itoa(int(life / time.Second)),
		"scope": r.PostForm.Get("scope"),
	})
}

func (s *Server) authorized(r *http.Request) bool { return s.tokens.Check(r, time.Now()) == nil }

var (
	dateRE = regexp.MustCompile(`^(0[1-9]|1[0-2])/(0[1-9]|[12][0-9]|3[01])/[0-9]{4}$`)
	timeRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	numRE  = regexp.MustCompile(`^[0-9]+$`)
)

// add validates the form as documented and files the document.
func (s *Server) add(w http.ResponseWriter, r *http.Request, patient, class string) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") && !strings.HasPrefix(ct, "multipart/form-data") {
		writeError(w, http.StatusBadRequest, "Invalid content type.", ct)
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil && err != http.ErrNotMultipart {
		writeError(w, http.StatusBadRequest, "Invalid form.", err.Error())
		return
	}
	fields := map[string]string{}
	for k, v := range r.PostForm {
		if !slices.Contains(knownFields[class], k) {
			writeError(w, http.StatusBadRequest, "Unknown field: "+k+".", "")
			return
		}
		if len(v) != 1 {
			writeError(w, http.StatusBadRequest, "Field "+k+" given more than once.", "")
			return
		}
		fields[k] = v[0]
	}
	var missing []string
	for _, k := range []string{"departmentid", "documentsubclass"} {
		if fields[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		writeError(w, http.StatusBadRequest, "Missing required fields: "+strings.Join(missing, ", ")+".", "")
		return
	}
	check := func(ok bool, msg string) bool {
		if !ok {
			writeError(w, http.StatusBadRequest, msg, "")
		}
		return ok
	}
	if !check(slices.Contains(s.Departments, fields["departmentid"]), "Invalid department ID.") ||
		!check(slices.Contains(Subclasses[class], fields["documentsubclass"]), "Invalid document subclass.") ||
		!check(fields["encounterid"] == "" || numRE.MatchString(fields["encounterid"]), "Invalid encounter ID.") ||
		!check(fields["documentdata"] != "" || fields["attachmentcontents"] != "", "Either documentdata or attachmentcontents is required.") ||
		!check(fields["observationdate"] == "" || dateRE.MatchString(fields["observationdate"]), "Invalid observationdate; expected mm/dd/yyyy.") ||
		!check(fields["observationtime"] == "" || timeRE.MatchString(fields["observationtime"]), "Invalid observationtime; expected hh24:mi.") ||
		!check(fields["providerid"] == "" || numRE.MatchString(fields["providerid"]), "Invalid provider ID.") {
		return
	}
	if a := fields["attachmentcontents"]; a != "" {
		if _, err := base64.StdEncoding.DecodeString(a); err != nil {
			writeError(w, http.StatusBadRequest, "attachmentcontents must be Base64 encoded.", "")
			return
		}
		if fields["attachmenttype"] == "" {
			writeError(w, http.StatusBadRequest, "attachmenttype is required with attachmentcontents.", "")
			return
		}
	}
	s.mu.Lock()
	id := 1000 + len(s.docs) + 1
	s.docs = append(s.docs, Document{ID: id, PatientID: patient, Class: class, Fields: fields})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{class + "id": id, "success": true})
}

// list answers "Get list of patient's clinical documents" (departmentid
// required), paged with limit/offset and a next link.
func (s *Server) list(w http.ResponseWriter, r *http.Request, patient, class string) {
	q := r.URL.Query()
	dept := q.Get("departmentid")
	if dept == "" {
		writeError(w, http.StatusBadRequest, "Missing required fields: departmentid.", "")
		return
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	size := s.PageSize
	if size <= 0 {
		size = 100
	}
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 {
		size = min(size, l)
	}
	type item struct {
		ID               int    `json:"id"`
		DepartmentID     string `json:"departmentid"`
		DocumentSubclass string `json:"documentsubclass"`
		InternalNote     string `json:"internalnote,omitempty"`
		ObservationDate  string `json:"observationdate,omitempty"`
		Status           string `json:"status"`
	}
	var all []item
	for _, d := range s.Documents() {
		if d.PatientID == patient && d.Class == class && d.Fields["departmentid"] == dept {
			all = append(all, item{d.ID, dept, d.Fields["documentsubclass"], d.Fields["internalnote"], d.Fields["observationdate"], "REVIEW"})
		}
	}
	page := all[min(offset, len(all)):min(offset+size, len(all))]
	// Each item's id field is named for its class, as athena names it.
	items := []map[string]any{}
	for _, it := range page {
		b, _ := json.Marshal(it)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		m[class+"id"] = m["id"]
		delete(m, "id")
		items = append(items, m)
	}
	out := map[string]any{class + "s": items, "totalcount": len(all)}
	if offset+size < len(all) {
		nq := q
		nq.Set("offset", strconv.Itoa(offset+size))
		nq.Set("limit", strconv.Itoa(size))
		out["next"] = r.URL.Path + "?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

func writeError(w http.ResponseWriter, status int, msg, detail string) {
	body := map[string]string{"error": msg}
	if detail != "" {
		body["detailedmessage"] = detail
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
