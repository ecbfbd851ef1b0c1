// Package fhirtest is a small FHIR R4 server for tests: every connector's
// test and the gateway's end-to-end test push to it instead of a real EHR.
// It speaks the parts of the FHIR REST API connectors use — create with
// conditional create (If-None-Exist), read, search by identifier, by token
// (category, type, status, _security … as "code", "system|code" or
// "|code") and by reference (patient, subject, encounter, target … with
// FHIR's matching of "123", "Patient/123" and absolute URLs), capabilities —
// and, like a strict real server, rejects any body that does not validate
// against the R4 JSON schema, answering with an OperationOutcome.
//
// Searches are paged as a real server pages them
// (https://hl7.org/fhir/R4/http.html#paging): at most _count entries (by
// default DefaultPageSize, never more than MaxPageSize; see SetPaging), in
// creation order, with Bundle.link[next] to the rest. A client that reads
// only the first page misses what was filed most recently. Faults (lost
// responses, 5xx, 429, 4xx, stalls) on any request, searches included, and
// an authentication hook let tests exercise a connector's error handling;
// TokenEndpoint adds the same faults to a stand-in's token endpoint.
//
// A Server is an http.Handler, so a vendor stand-in can mount it under its
// own base path (with http.StripPrefix) beside its token endpoint;
// NewServer runs it on its own httptest.Server.
package fhirtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors/httpstatus"
	"github.com/scribegate/scribegate/connectors/internal/standin"
)

// Server is an in-memory FHIR R4 server. It is safe for concurrent use.
type Server struct {
	// URL is the server's base URL (set by NewServer, or by whoever mounts
	// the handler); Location headers and Bundle fullUrls are built on it.
	// Empty means relative locations.
	URL string

	validator *Validator
	faults
	requests standin.Log[Request]

	mu        sync.Mutex
	pageSize  int // default page size; 0 means DefaultPageSize
	maxPage   int // largest page served whatever _count asks; 0 means MaxPageSize
	auth      func(*http.Request) error
	nextID    int
	resources map[string][]*stored // by resource type, in creation order
}

type stored struct {
	id           string
	resourceType string
	body         json.RawMessage // as served, with id and meta
	ids          []identifier
	doc          map[string]any // body decoded, for reference searches
}

type identifier struct{ System, Value string }

// Request is a request the server received, for assertions.
type Request struct {
	Method string
	// Path is relative to the server's base, without a leading slash
	// ("DocumentReference", "DocumentReference/1", "metadata").
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Status is what the server answered; 0 when the response was dropped.
	Status int
}

// Fault is a failure the server injects instead of (or after) handling a
// request.
type Fault struct {
	// Method and ResourceType select the requests the fault hits; empty
	// matches any.
	Method       string
	ResourceType string
	// Drop handles the request normally (a create is stored) and then
	// closes the connection without a response: the client sees a network
	// error and does not know the document was filed.
	Drop bool
	// Status answers with this HTTP status and an OperationOutcome instead
	// of handling the request (nothing is stored). Ignored when Drop is set.
	Status int
	// RetryAfter, when positive, is sent as a Retry-After header (seconds).
	RetryAfter time.Duration
	// Message is the OperationOutcome's diagnostics; a default says which
	// fault it was.
	Message string
	// Delay stalls the request this long before the above (or normal
	// handling when neither Drop nor Status is set); if the client gives up
	// first, nothing is stored. Tests of cancellation use a long Delay.
	Delay time.Duration
}

// Paging defaults: a search without _count gets DefaultPageSize entries a
// page, and no page is larger than MaxPageSize whatever _count asks for
// (real servers cap _count too).
const (
	DefaultPageSize = 10
	MaxPageSize     = 50
)

// SetPaging changes the page size a search without _count gets and the
// largest page served; 0 keeps the default. Tests set small pages to make
// a connector read past the first one.
func (s *Server) SetPaging(defaultSize, maxSize int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize, s.maxPage = defaultSize, maxSize
}

// New returns a server validating bodies with v. Mount it yourself, or use
// NewServer.
func New(v *Validator) *Server {
	return &Server{validator: v, resources: map[string][]*stored{}}
}

// NewServer starts a server on a local port with the repository's schema,
// closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := New(Schema(t))
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// SetAuth installs a check run on every request; an error answers 401 with
// a WWW-Authenticate challenge and an OperationOutcome. nil removes it.
func (s *Server) SetAuth(check func(*http.Request) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = check
}

// Resources returns the stored resources of one type, in creation order,
// as served (with id and meta).
func (s *Server) Resources(resourceType string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]json.RawMessage, 0, len(s.resources[resourceType]))
	for _, r := range s.resources[resourceType] {
		out = append(out, slices.Clone(r.body))
	}
	return out
}

// Find returns the stored resources of a type carrying system|value.
func (s *Server) Find(resourceType, system, value string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []json.RawMessage
	for _, r := range s.match(resourceType, identifier{system, value}) {
		out = append(out, slices.Clone(r.body))
	}
	return out
}

// Requests returns what the server received so far.
func (s *Server) Requests() []Request { return s.requests.All() }

// Seed stores a resource as if created (e.g. the Patient and Encounter a
// note refers to) and returns its id. It is validated like a create.
func (s *Server) Seed(resource []byte) (string, error) {
	if err := s.validator.Validate(resource); err != nil {
		return "", err
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(resource, &head); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(head.ResourceType, resource)
	if err != nil {
		return "", err
	}
	return st.id, nil
}

// ServeHTTP implements the FHIR REST interactions. Paths are relative to
// the server's base.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	path := strings.Trim(r.URL.Path, "/")
	rec := Request{Method: r.Method, Path: path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	rw := &httpstatus.Writer{ResponseWriter: w}
	recorded := false
	record := func(status int) {
		if recorded {
			return
		}
		recorded = true
		rec.Status = status
		s.requests.Add(rec)
	}
	defer func() { record(rw.Status) }()

	parts := strings.Split(path, "/")
	resourceType := parts[0]

	s.mu.Lock()
	auth := s.auth
	s.mu.Unlock()

	// Authentication comes first, as on a real server: a request refused
	// for its token never reaches the part of the server a fault stands
	// for, so it does not use one up.
	if auth != nil {
		if err := auth(r); err != nil {
			rw.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeOutcome(rw, http.StatusUnauthorized, "login", err.Error())
			return
		}
	}
	fault, faulted := s.takeFault(r.Method, resourceType)
	if faulted && !fault.stall(r.Context()) {
		return
	}
	if faulted && !fault.Drop && fault.Status != 0 {
		fault.setRetryAfter(rw.Header())
		msg := fault.Message
		if msg == "" {
			msg = fmt.Sprintf("fhirtest: injected HTTP %d", fault.Status)
		}
		writeOutcome(rw, fault.Status, issueCode(fault.Status), msg)
		return
	}
	if faulted && fault.Drop {
		// Handle the request into a discarded response, then close the
		// connection: the work is done, the reply is lost.
		s.route(httptest.NewRecorder(), r, parts, body)
		// Record before the client can see the connection close, so a
		// test that reads Requests right after its error finds it.
		record(0)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without a reply
	}
	s.route(rw, r, parts, body)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, parts []string, body []byte) {
	switch {
	case len(parts) == 1 && parts[0] == "metadata" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, capabilityStatement)
	case len(parts) == 1 && parts[0] != "" && r.Method == http.MethodPost:
		s.create(w, r, parts[0], body)
	case len(parts) == 1 && parts[0] != "" && r.Method == http.MethodGet:
		s.search(w, r, parts[0])
	case len(parts) == 2 && r.Method == http.MethodGet:
		s.read(w, parts[0], parts[1])
	default:
		writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", fmt.Sprintf("fhirtest: %s /%s is not supported", r.Method, strings.Join(parts, "/")))
	}
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, resourceType string, body []byte) {
	if err := s.validator.Validate(body); err != nil {
		var se *SchemaError
		if errors.As(err, &se) {
			writeSchemaOutcome(w, se)
			return
		}
		writeOutcome(w, http.StatusBadRequest, "structure", err.Error())
		return
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	_ = json.Unmarshal(body, &head) // valid JSON: Validate passed
	if head.ResourceType != resourceType {
		writeOutcome(w, http.StatusBadRequest, "invalid", fmt.Sprintf("resourceType %s posted to /%s", head.ResourceType, resourceType))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if cond := r.Header.Get("If-None-Exist"); cond != "" {
		q, err := url.ParseQuery(strings.TrimPrefix(cond, "?"))
		if err != nil || len(q) != 1 || len(q["identifier"]) != 1 {
			writeOutcome(w, http.StatusBadRequest, "not-supported", "fhirtest: If-None-Exist supports exactly one identifier parameter, got "+cond)
			return
		}
		matches := s.match(resourceType, parseToken(q.Get("identifier")))
		switch len(matches) {
		case 0:
		case 1:
			w.Header().Set("Location", s.location(resourceType, matches[0].id))
			s.reply(w, r, http.StatusOK, matches[0].body)
			return
		default:
			writeOutcome(w, http.StatusPreconditionFailed, "duplicate", "fhirtest: If-None-Exist matches several resources")
			return
		}
	}
	st, err := s.store(resourceType, body)
	if err != nil {
		writeOutcome(w, http.StatusBadRequest, "structure", err.Error())
		return
	}
	w.Header().Set("Location", s.location(resourceType, st.id))
	w.Header().Set("ETag", `W/"1"`)
	s.reply(w, r, http.StatusCreated, st.body)
}

// reply honours Prefer: return=minimal (empty body) as FHIR servers do.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	if strings.Contains(r.Header.Get("Prefer"), "return=minimal") {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	w.Write(body)
}

// store assigns an id and meta and keeps the resource; s.mu is held.
func (s *Server) store(resourceType string, body []byte) (*stored, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	s.nextID++
	id := strconv.Itoa(s.nextID)
	m["id"] = id
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["versionId"] = "1"
	meta["lastUpdated"] = time.Now().UTC().Format(time.RFC3339Nano)
	m["meta"] = meta
	out, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	st := &stored{id: id, resourceType: resourceType, body: out, ids: identifiersOf(m), doc: m}
	s.resources[resourceType] = append(s.resources[resourceType], st)
	return st, nil
}

func identifiersOf(m map[string]any) []identifier {
	var ids []identifier
	add := func(v any) {
		o, _ := v.(map[string]any)
		sys, _ := o["system"].(string)
		val, _ := o["value"].(string)
		if val != "" {
			ids = append(ids, identifier{sys, val})
		}
	}
	if list, ok := m["identifier"].([]any); ok {
		for _, v := range list {
			add(v)
		}
	} else if m["identifier"] != nil {
		add(m["identifier"])
	}
	if m["masterIdentifier"] != nil {
		add(m["masterIdentifier"])
	}
	return ids
}

// parseToken parses a token search value: "system|value", "|value" (no
// system) or "value" (any system).
func parseToken(tok string) identifier {
	if sys, val, ok := strings.Cut(tok, "|"); ok {
		return identifier{sys, val}
	}
	return identifier{System: "\x00any", Value: tok}
}

// match finds resources carrying the identifier; s.mu is held.
func (s *Server) match(resourceType string, want identifier) []*stored {
	var out []*stored
	for _, r := range s.resources[resourceType] {
		for _, id := range r.ids {
			if id.Value == want.Value && (want.System == "\x00any" || id.System == want.System) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, resourceType string) {
	q := r.URL.Query()
	s.mu.Lock()
	candidates := slices.Clone(s.resources[resourceType])
	for _, tok := range q["identifier"] {
		candidates = intersect(candidates, s.match(resourceType, parseToken(tok)))
	}
	size, maxSize := s.pageSize, s.maxPage
	s.mu.Unlock()
	if size <= 0 {
		size = DefaultPageSize
	}
	if maxSize <= 0 {
		maxSize = MaxPageSize
	}
	for name, vals := range q {
		switch name {
		case "identifier", "_id", "_count", "_summary", "_format", "_sort", pageParam:
			continue
		}
		param, modifier, _ := strings.Cut(name, ":")
		if match, ok := patientParams[param]; ok && resourceType == "Patient" {
			if modifier != "" {
				writeOutcome(w, http.StatusBadRequest, "not-supported", "fhirtest: modifier :"+modifier+" is not supported on "+param)
				return
			}
			candidates = slices.DeleteFunc(candidates, func(st *stored) bool {
				for _, v := range vals {
					if !slices.ContainsFunc(strings.Split(v, ","), func(v string) bool { return match(st.doc, v) }) {
						return true
					}
				}
				return false
			})
			continue
		}
		if paths, ok := tokenParam(resourceType, param); ok {
			if modifier != "" {
				writeOutcome(w, http.StatusBadRequest, "not-supported", "fhirtest: modifier :"+modifier+" is not supported on token parameter "+param)
				return
			}
			candidates = slices.DeleteFunc(candidates, func(st *stored) bool {
				for _, v := range vals {
					if !slices.ContainsFunc(strings.Split(v, ","), func(v string) bool { return tokenMatches(st.doc, paths, v) }) {
						return true
					}
				}
				return false
			})
			continue
		}
		// Any other parameter is a reference search (see referenceParam).
		rp := referenceParam(resourceType, param)
		candidates = slices.DeleteFunc(candidates, func(st *stored) bool {
			for _, v := range vals {
				// Repeated parameters are ANDed; a comma within one value
				// is OR.
				if !slices.ContainsFunc(strings.Split(v, ","), func(v string) bool {
					return s.referenceMatches(st, rp, modifier, v)
				}) {
					return true
				}
			}
			return false
		})
	}
	if ids := q["_id"]; len(ids) > 0 {
		candidates = slices.DeleteFunc(candidates, func(st *stored) bool { return !slices.Contains(ids, st.id) })
	}
	if c := q.Get("_count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			writeOutcome(w, http.StatusBadRequest, "invalid", "fhirtest: _count must be a non-negative integer, got "+c)
			return
		}
		size = n
	}
	size = min(size, maxSize)
	offset := 0
	if p := q.Get(pageParam); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			writeOutcome(w, http.StatusBadRequest, "invalid", "fhirtest: unknown page "+p)
			return
		}
		offset = n
	}
	type entry struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Search   map[string]any  `json:"search"`
	}
	type link struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}
	b := struct {
		ResourceType string  `json:"resourceType"`
		Type         string  `json:"type"`
		Total        int     `json:"total"`
		Link         []link  `json:"link"`
		Entry        []entry `json:"entry,omitempty"`
	}{ResourceType: "Bundle", Type: "searchset", Total: len(candidates)}
	page := candidates[min(offset, len(candidates)):min(offset+size, len(candidates))]
	for _, st := range page {
		b.Entry = append(b.Entry, entry{FullURL: s.location(resourceType, st.id), Resource: st.body, Search: map[string]any{"mode": "match"}})
	}
	base := resourceType
	if s.URL != "" {
		base = strings.TrimSuffix(s.URL, "/") + "/" + resourceType
	}
	b.Link = append(b.Link, link{"self", base + "?" + q.Encode()})
	if size > 0 && offset+size < len(candidates) {
		next := maps.Clone(q)
		next.Set(pageParam, strconv.Itoa(offset+size))
		next.Set("_count", strconv.Itoa(size))
		b.Link = append(b.Link, link{"next", base + "?" + next.Encode()})
	}
	writeJSON(w, http.StatusOK, b)
}

// patientParams are the Patient search parameters a patient lookup uses
// (https://hl7.org/fhir/R4/patient.html#search): name, a string parameter
// (case-insensitive, accents kept, matching the start of any part of any
// name: text, family, given, prefix, suffix), and birthdate, a date
// parameter (here the day only, without prefixes).
var patientParams = map[string]func(doc map[string]any, v string) bool{
	"name": func(doc map[string]any, v string) bool {
		v = strings.ToLower(v)
		names, _ := doc["name"].([]any)
		for _, n := range names {
			m, _ := n.(map[string]any)
			var parts []string
			for _, k := range []string{"text", "family"} {
				if s, ok := m[k].(string); ok {
					parts = append(parts, s)
				}
			}
			for _, k := range []string{"given", "prefix", "suffix"} {
				l, _ := m[k].([]any)
				for _, x := range l {
					if s, ok := x.(string); ok {
						parts = append(parts, s)
					}
				}
			}
			for _, p := range parts {
				if strings.HasPrefix(strings.ToLower(p), v) {
					return true
				}
			}
		}
		return false
	},
	"birthdate": func(doc map[string]any, v string) bool {
		b, _ := doc["birthDate"].(string)
		return b != "" && b == v
	},
}

// pageParam carries the offset of a page in the server's next links. It is
// the server's own (clients follow the link, never build it).
const pageParam = "_fhirtest_page"

// tokenParams are the token search parameters of the R4 spec for what
// connectors file and look up, by the element paths they search
// (https://hl7.org/fhir/R4/documentreference.html#search,
// https://hl7.org/fhir/R4/search.html#token). _security and _tag apply to
// every type.
var tokenParams = map[string]map[string][]string{
	"DocumentReference": {
		"category":       {"category"},
		"type":           {"type"},
		"status":         {"status"},
		"security-label": {"securityLabel"},
		"relation":       {"relatesTo.code"},
		"format":         {"content.format"},
		"contenttype":    {"content.attachment.contentType"},
		"facility":       {"context.facilityType"},
		"setting":        {"context.practiceSetting"},
		"event":          {"context.event"},
		"language":       {"content.attachment.language"},
	},
	"Encounter": {
		"status": {"status"},
		"class":  {"class"},
		"type":   {"type"},
	},
	"Provenance": {},
}

func tokenParam(resourceType, name string) ([]string, bool) {
	switch name {
	case "_security":
		return []string{"meta.security"}, true
	case "_tag":
		return []string{"meta.tag"}, true
	}
	p, ok := tokenParams[resourceType][name]
	return p, ok
}

// tokenMatches applies FHIR's token matching to one value: "code" matches
// the code in any system, "system|code" in that system, "|code" a code
// without a system. It reads codes, Codings, CodeableConcepts and
// Identifiers at paths.
func tokenMatches(doc map[string]any, paths []string, value string) bool {
	system, code, hasSystem := strings.Cut(value, "|")
	if !hasSystem {
		system, code = "", value
	}
	match := func(sys, c string) bool {
		if c != code {
			return false
		}
		return !hasSystem || sys == system
	}
	var walk func(v any, steps []string) bool
	walk = func(v any, steps []string) bool {
		if list, ok := v.([]any); ok {
			return slices.ContainsFunc(list, func(e any) bool { return walk(e, steps) })
		}
		if len(steps) > 0 {
			o, ok := v.(map[string]any)
			return ok && walk(o[steps[0]], steps[1:])
		}
		switch v := v.(type) {
		case string: // a code: its system is implied, so only the code is compared
			return v == code
		case map[string]any:
			if codings, ok := v["coding"].([]any); ok {
				return slices.ContainsFunc(codings, func(c any) bool { return walk(c, nil) })
			}
			sys, _ := v["system"].(string)
			if c, ok := v["code"].(string); ok {
				return match(sys, c)
			}
			if val, ok := v["value"].(string); ok {
				return match(sys, val)
			}
		}
		return false
	}
	for _, p := range paths {
		if walk(doc, strings.Split(p, ".")) {
			return true
		}
	}
	return false
}

func intersect(a, b []*stored) []*stored {
	return slices.DeleteFunc(a, func(st *stored) bool { return !slices.Contains(b, st) })
}

func (s *Server) read(w http.ResponseWriter, resourceType, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.resources[resourceType] {
		if st.id == id {
			w.Header().Set("ETag", `W/"1"`)
			w.Header().Set("Content-Type", "application/fhir+json")
			w.Write(st.body)
			return
		}
	}
	writeOutcome(w, http.StatusNotFound, "not-found", fmt.Sprintf("%s/%s is not known", resourceType, id))
}

func (s *Server) location(resourceType, id string) string {
	rel := resourceType + "/" + id
	if s.URL == "" {
		return rel
	}
	return strings.TrimSuffix(s.URL, "/") + "/" + rel
}

// takeFault consumes the first queued fault matching the request.
func (s *Server) takeFault(method, resourceType string) (Fault, bool) {
	return s.Take(func(f Fault) bool {
		return (f.Method == "" || f.Method == method) && (f.ResourceType == "" || f.ResourceType == resourceType)
	})
}

// OperationOutcome returns an OperationOutcome with one error issue, as FHIR
// servers send with a 4xx or 5xx.
func OperationOutcome(code, diagnostics string) []byte {
	b, _ := json.Marshal(map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []any{map[string]any{
			"severity": "error", "code": code, "diagnostics": diagnostics,
		}},
	})
	return b
}

func writeOutcome(w http.ResponseWriter, status int, code, diagnostics string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	w.Write(OperationOutcome(code, diagnostics))
}

func writeSchemaOutcome(w http.ResponseWriter, e *SchemaError) {
	var issues []any
	for _, p := range e.Problems {
		issue := map[string]any{"severity": "error", "code": "structure", "diagnostics": p.Message}
		if p.Path != "" {
			issue["location"] = []string{p.Path}
		}
		issues = append(issues, issue)
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "issue": issues})
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeOutcome(w, http.StatusInternalServerError, "exception", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	w.Write(b)
}

func issueCode(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "throttled"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "security"
	case status == http.StatusNotFound:
		return "not-found"
	case status == http.StatusConflict || status == http.StatusPreconditionFailed:
		return "conflict"
	case status >= 500:
		return "transient"
	default:
		return "processing"
	}
}

var capabilityStatement = map[string]any{
	"resourceType": "CapabilityStatement",
	"status":       "active",
	"date":         "2024-01-01",
	"kind":         "instance",
	"fhirVersion":  "4.0.1",
	"format":       []string{"json"},
	"software":     map[string]any{"name": "scribegate fhirtest"},
	"implementation": map[string]any{
		"description": "scribegate's in-memory FHIR R4 server for tests",
	},
	"rest": []any{map[string]any{
		"mode": "server",
		"resource": []any{
			resourceCapability("DocumentReference"),
			resourceCapability("Provenance"),
		},
	}},
}

func resourceCapability(t string) map[string]any {
	return map[string]any{
		"type": t,
		"interaction": []any{
			map[string]any{"code": "create"},
			map[string]any{"code": "read"},
			map[string]any{"code": "search-type"},
		},
		"conditionalCreate": true,
		"searchParam": []any{
			map[string]any{"name": "identifier", "type": "token"},
			map[string]any{"name": "_id", "type": "token"},
		},
	}
}

// refParam is a reference search parameter: the element paths it searches
// (dotted, through lists) and the resource type its references must have
// ("patient" searches subject for Patient references only).
type refParam struct {
	paths  []string
	target string
}

// referenceParams are the reference search parameters of the R4 spec for
// what connectors file and look up
// (https://hl7.org/fhir/R4/documentreference.html#search,
// https://hl7.org/fhir/R4/provenance.html#search,
// https://hl7.org/fhir/R4/encounter.html#search) whose element is not the
// one of their name; the rest (subject, author, authenticator, custodian,
// target, location, and patient as the subject's Patient) are
// referenceParam's rule.
var referenceParams = map[string]map[string]refParam{
	"DocumentReference": {
		"encounter": {paths: []string{"context.encounter"}},
		"related":   {paths: []string{"context.related"}},
		"relatesto": {paths: []string{"relatesTo.target"}},
	},
	"Provenance": {
		"patient": {paths: []string{"target"}, target: "Patient"},
		"agent":   {paths: []string{"agent.who"}},
		"entity":  {paths: []string{"entity.what"}},
	},
}

// referenceParam finds a resource type's reference parameter. A parameter
// not in referenceParams searches the top-level element of its name, and
// "patient" the subject's Patient references.
func referenceParam(resourceType, name string) refParam {
	if p, ok := referenceParams[resourceType][name]; ok {
		return p
	}
	if name == "patient" {
		return refParam{paths: []string{"subject"}, target: "Patient"}
	}
	return refParam{paths: []string{name}}
}

// referenceMatches applies FHIR's reference search semantics
// (https://hl7.org/fhir/R4/search.html#reference) to one value: "123"
// matches Patient/123 (of the parameter's target type, if it has one),
// "Patient/123" matches Patient/123 whether stored relative or absolute
// on this server, a full URL matches that URL; the :identifier modifier
// matches Reference.identifier as a token, and a type modifier
// (subject:Patient=123) restricts the type.
func (s *Server) referenceMatches(st *stored, p refParam, modifier, value string) bool {
	for _, ref := range referencesAt(st.doc, p.paths) {
		if modifier == "identifier" {
			want := parseToken(value)
			if ref.idValue != "" && ref.idValue == want.Value && (want.System == "\x00any" || want.System == ref.idSystem) {
				return true
			}
			continue
		}
		typ, id, abs := s.splitReference(ref.reference)
		if id == "" {
			continue
		}
		if p.target != "" && typ != p.target {
			continue
		}
		if modifier != "" && typ != modifier {
			continue
		}
		switch {
		case strings.Contains(value, "://"):
			if strings.TrimSuffix(value, "/") == abs {
				return true
			}
		case strings.Contains(value, "/"):
			vt, vid, _ := strings.Cut(value, "/")
			if vt == typ && vid == id {
				return true
			}
		default:
			if value == id {
				return true
			}
		}
	}
	return false
}

type refValue struct {
	reference         string
	idSystem, idValue string
}

// referencesAt collects the Reference values at dotted paths, descending
// through lists at every step.
func referencesAt(doc map[string]any, paths []string) []refValue {
	var out []refValue
	var walk func(v any, steps []string)
	walk = func(v any, steps []string) {
		if list, ok := v.([]any); ok {
			for _, e := range list {
				walk(e, steps)
			}
			return
		}
		o, ok := v.(map[string]any)
		if !ok {
			return
		}
		if len(steps) > 0 {
			walk(o[steps[0]], steps[1:])
			return
		}
		var r refValue
		r.reference, _ = o["reference"].(string)
		if ident, ok := o["identifier"].(map[string]any); ok {
			r.idSystem, _ = ident["system"].(string)
			r.idValue, _ = ident["value"].(string)
		}
		if r.reference != "" || r.idValue != "" {
			out = append(out, r)
		}
	}
	for _, p := range paths {
		walk(doc, strings.Split(p, "."))
	}
	return out
}

// splitReference parses a literal reference into its type, id and
// absolute URL. A relative reference is taken as on this server; an
// absolute one on this server is the same as its relative form. Version
// suffixes (/_history/n) are ignored.
func (s *Server) splitReference(ref string) (typ, id, abs string) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	ref = strings.TrimSuffix(ref, "/")
	base := strings.TrimSuffix(s.URL, "/")
	rel := ref
	if strings.Contains(ref, "://") {
		abs = ref
		if base != "" && strings.HasPrefix(ref, base+"/") {
			rel = strings.TrimPrefix(ref, base+"/")
		} else {
			parts := strings.Split(ref, "/")
			if len(parts) < 2 {
				return "", "", abs
			}
			rel = parts[len(parts)-2] + "/" + parts[len(parts)-1]
		}
	}
	typ, id, ok := strings.Cut(rel, "/")
	if !ok || strings.Contains(id, "/") {
		return "", "", ""
	}
	if abs == "" {
		if base != "" {
			abs = base + "/" + rel
		} else {
			abs = rel
		}
	}
	return typ, id, abs
}
