// Package athena files approved notes in athenaOne (athenahealth) as
// clinical documents. Import it (a blank import is enough) to offer the
// connector kind "athena".
//
// # Authentication
//
// athenahealth's OAuth 2.0 client credentials grant
// (https://docs.athenahealth.com/api/guides/authorization-overview): the
// client id and secret go in HTTP Basic authentication to
// {base}/oauth2/v1/token with grant_type=client_credentials and the scopes
// the app was granted; tokens last an hour and token requests are
// rate-limited, so a token is reused until a minute before it expires
// (golang.org/x/oauth2/clientcredentials fetches, the connector caches and
// drops a token the API refused with 401, retrying that request once). The
// secret is read from a file or an environment variable, never from the
// configuration itself.
//
// # Filing a note
//
// athenahealth's FHIR R4 API is largely read-only; calls to it carry the
// practice context ah-practice=Organization/a-1.Practice-{practiceid}
// (PracticeContext). Notes are filed through the proprietary document
// endpoints, in the class athena files them in
// (https://docs.athenahealth.com/api/workflows/document-classification-guide,
// https://docs.athenahealth.com/api/api-ref/document-type-encounter-document):
//
//   - the practice's own visit documentation — what a scribe drafts in the
//     room: progress, consult and H&P notes, procedure notes — is an
//     encounter document ("Encounter Document – Progress Note: detailed
//     descriptions of a patient's office visit"; created closed, as
//     documentation of the practice's own encounter):
//     POST /v1/{practiceid}/patients/{patientid}/documents/encounterdocument
//     with departmentid, documentsubclass (ENCOUNTERDOCUMENT_PROGRESSNOTE,
//     …_PROCEDUREDOC), documentdata, internalnote, encounterid when the
//     note's encounter is an athena (numeric) encounter id;
//   - discharge summaries, operative and emergency notes are clinical
//     documents (CLINICALDOCUMENT_ADMISSIONDISCHARGE, …_OPERATIVENOTE,
//     …_URGENTCARE); CLINICALDOCUMENT_CONSULTNOTE is for consult notes from
//     outside providers and is used only when document_subclass says so.
//
// document_subclass, when set, must be one of the documented subclasses of
// those two classes (Subclasses); it is checked at start-up, not at the
// first push. The clinical document endpoint is "Add clinical document to
// patient's chart"
// (https://docs.athenahealth.com/api/api-ref/document-type-clinical-document):
// POST /v1/{practiceid}/patients/{patientid}/documents/clinicaldocument,
// form-encoded, with departmentid and documentsubclass required, and
// optionally documentdata (text stored with the document),
// attachmentcontents (a base64 file, with attachmenttype), documenttypeid,
// internalnote, providerid, observationdate (mm/dd/yyyy), observationtime
// (hh24:mi), priority, autoclose. It answers {"clinicaldocumentid": …,
// "success": true}. The note is mapped as: documentdata = the note text
// exactly as approved, followed by a line declaring the AI (below);
// documentsubclass from the note's LOINC type
// (CLINICALDOCUMENT_CONSULTNOTE, …_ADMISSIONDISCHARGE, …_OPERATIVENOTE,
// …_URGENTCARE) unless document_subclass fixes one; providerid = the
// author when it is an athena (numeric) provider id; observation date and
// time = when the consultation was recorded; internalnote carries our
// identifier and the AI-assisted declaration. The DocumentReference the
// gateway would send to a FHIR EHR is built by fhirdoc (DocumentReference)
// for the record and for golden tests; athena receives its fields as above.
// Document classes: https://docs.athenahealth.com/api/workflows/document-classification-guide.
//
// # AI declaration without a Provenance
//
// The clinicaldocument endpoint has no place for a FHIR Provenance or a
// security label, and athena's FHIR API is read-only, so the design's
// Provenance cannot be filed. The AI involvement is declared in words
// instead: documentdata ends, after the approved text, with
// "Drafted with AI assistance by scribegate (<model>); reviewed and
// approved by <approver> on <date>." (fhirdoc.Profile.Declare, dated in
// the practice's time_zone), which is what the clinician reads in the
// chart; internalnote repeats it beside our identifier. The
// DocumentReference built for the record keeps the AIAST label.
// testdata/clinicaldocument-form.json is exactly what is sent.
//
// # Idempotency
//
// Neither endpoint has a conditional create, and no public reference
// promises that the document lists return internalnote, where our
// identifier marker is. So the push ledger (package ledger) is what keeps a
// resend from filing twice: an attempt is recorded before the create, the
// document id after, and a document the ledger knows is filed is never
// sent again. After an attempt whose reply was lost, the connector lists
// the patient's documents of that class in the department
// (GET …/documents/{class}?departmentid=&limit=100, every page through
// next, at most 50) and looks for the marker. It creates again only when
// the list proves the document absent: a list that fails, is refused, is
// cut at the page limit, or does not show internal notes stops the push
// as a transient failure. A 404 or 400 on the list (an unknown patient or
// department) is athena's verdict on the note, and permanent. The ledger
// is a file in the instance's state directory (ledger_file overrides);
// without one it is in memory and every push lists first.
//
// # Failures
//
// Errors are athenahealth's JSON {"error": …, "detailedmessage": …}
// (https://docs.athenahealth.com/api/resources/api-error-message-reference);
// the error is what is shown. Network errors, 408, 429, 5xx and the API
// gateway's over-QPS refusal are transient; other 4xx permanent. Every
// request has a timeout.
package athena

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
	"golang.org/x/oauth2"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/ledger"
	"github.com/scribegate/scribegate/connectors/tokencache"
)

// Kind is the connector kind this package registers.
const Kind = "athena"

func init() { connectors.Register(Kind, open) }

// DefaultScopes is what the token request asks for when the configuration
// names none: athenaOne's service scope for the proprietary API.
var DefaultScopes = []string{"athena/service/Athenanet.MDP.*"}

const defaultTimeout = 30 * time.Second

// MarkerPrefix starts the internalnote marker that identifies a document
// this gateway filed ("scribegate-id: <system>|<value>").
const MarkerPrefix = "scribegate-id: "

// Settings is one athenaOne practice's configuration. Keys are strict.
type Settings struct {
	// BaseURL is the API host, e.g. https://api.platform.athenahealth.com
	// (preview: https://api.preview.platform.athenahealth.com).
	BaseURL string `yaml:"base_url"`
	// ClientCredentials are the practice's API client: its token_url
	// defaults to {base_url}/oauth2/v1/token, its scopes to DefaultScopes.
	connectors.ClientCredentials `yaml:",inline"`
	// PracticeID is the athenaOne practice id.
	PracticeID string `yaml:"practice_id"`
	// DepartmentID is the department documents are filed in (required by
	// the endpoint).
	DepartmentID string `yaml:"department_id"`
	// DocumentSubclass, when set, is used for every note instead of the
	// subclass mapped from its LOINC type (SubclassFor); it must be one of
	// Subclasses.
	DocumentSubclass string `yaml:"document_subclass"`
	// LedgerFile is where the push ledger is kept; empty means ledger.json
	// in the instance's state directory, or memory when there is none.
	LedgerFile string `yaml:"ledger_file"`
	// Timeout bounds every HTTP request ("30s" default).
	Timeout time.Duration `yaml:"timeout"`
	// TimeZone is the practice's IANA time zone, for the observation date
	// and time athena shows (default UTC).
	TimeZone string `yaml:"time_zone"`
	// IdentifierSystem is the system of the note identifier in the marker;
	// empty means fhirdoc.DefaultNoteSystem.
	IdentifierSystem string `yaml:"identifier_system"`
}

// Options are what the gateway wires in besides settings.
type Options struct {
	HTTPClient *http.Client
	Logger     *slog.Logger
	Name       string
	// Secret overrides the secret file or variable (tests, secret stores).
	Secret string
	// Ledger overrides Settings.LedgerFile.
	Ledger ledger.Ledger
}

// Connector files clinical documents in one athenaOne practice.
type Connector struct {
	name       string
	base       string
	practice   string
	department string
	subclass   string
	loc        *time.Location
	hc         *http.Client
	timeout    time.Duration
	profile    fhirdoc.Profile
	log        *slog.Logger
	now        func() time.Time

	tokens *tokencache.Cache

	guard *ledger.Guard
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Checker   = (*Connector)(nil)
)

func open(ctx context.Context, c connectors.Config) (connectors.Connector, error) {
	var s Settings
	if err := c.Decode(&s); err != nil {
		return nil, fmt.Errorf("athena: settings: %w", err)
	}
	var err error
	if s.LedgerFile, err = ledger.StateFile(c, s.LedgerFile); err != nil {
		return nil, fmt.Errorf("athena: %w", err)
	}
	return New(s, Options{HTTPClient: c.HTTPClient, Logger: c.Logger, Name: c.Name})
}

// New builds a connector, checking every setting up front.
func New(s Settings, o Options) (*Connector, error) {
	var problems connectors.Problems
	problems.RequireURL("base_url", s.BaseURL)
	if s.TokenURL == "" && s.BaseURL != "" {
		s.TokenURL = strings.TrimSuffix(s.BaseURL, "/") + "/oauth2/v1/token"
	}
	cc := s.Grant(&problems, o.Secret, DefaultScopes)
	problems.Require("practice_id", s.PracticeID)
	problems.Require("department_id", s.DepartmentID)
	for _, f := range []struct{ v, key string }{{s.PracticeID, "practice_id"}, {s.DepartmentID, "department_id"}} {
		if f.v != "" && !isDigits(f.v) {
			problems.Addf("%s must be numeric", f.key)
		}
	}
	if s.DocumentSubclass != "" && !slices.Contains(Subclasses, s.DocumentSubclass) {
		problems.Addf("document_subclass %q is not one of athenahealth's documented subclasses (%s)", s.DocumentSubclass, strings.Join(Subclasses, ", "))
	}
	timeout := problems.Timeout(s.Timeout, defaultTimeout)
	loc := time.UTC
	if s.TimeZone != "" {
		l, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			problems.Addf("time_zone %q: %v", s.TimeZone, err)
		} else {
			loc = l
		}
	}
	if err := problems.Err("athena"); err != nil {
		return nil, err
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: timeout}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	guard, err := ledger.NewGuard(o.Ledger, s.LedgerFile, log.With("instance", o.Name))
	if err != nil {
		return nil, fmt.Errorf("athena: %w", err)
	}
	c := &Connector{
		name:       o.Name,
		base:       strings.TrimSuffix(s.BaseURL, "/"),
		practice:   s.PracticeID,
		department: s.DepartmentID,
		subclass:   s.DocumentSubclass,
		loc:        loc,
		hc:         hc,
		timeout:    timeout,
		profile:    fhirdoc.Profile{NoteSystem: s.IdentifierSystem, Declare: true, Location: loc},
		log:        log,
		now:        time.Now,
		guard:      guard,
	}
	// The token request shares the connector's HTTP client and timeout;
	// the cache asks for a new token a minute before the old one expires.
	c.tokens = tokencache.New(func(ctx context.Context) (*oauth2.Token, error) {
		ctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, c.hc), c.timeout)
		defer cancel()
		return cc.Token(ctx)
	}, time.Minute, func() time.Time { return c.now() })
	return c, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// PracticeContext is the ah-practice value athenahealth's FHIR API requires
// on every call, naming the practice the call is about.
func PracticeContext(practiceID string) string {
	return "Organization/a-1.Practice-" + practiceID
}

// Subclasses are athenaOne's documented subclasses of the two document
// classes the connector files in: clinical documents and encounter
// documents (document classification guide; the API's documentsubclass
// values).
var Subclasses = []string{
	"CLINICALDOCUMENT_ADMISSIONDISCHARGE",
	"CLINICALDOCUMENT_CONSULTNOTE",
	"CLINICALDOCUMENT_MENTALHEALTH",
	"CLINICALDOCUMENT_OPERATIVENOTE",
	"CLINICALDOCUMENT_URGENTCARE",
	"ENCOUNTERDOCUMENT_IMAGEDOC",
	"ENCOUNTERDOCUMENT_PATIENTHISTORY",
	"ENCOUNTERDOCUMENT_PROCEDUREDOC",
	"ENCOUNTERDOCUMENT_PROGRESSNOTE",
}

// SubclassFor maps a LOINC note type onto the subclass athena files it
// under. What a scribe drafts in the room is the practice's own visit
// documentation, an encounter document: progress, consult and H&P notes a
// progress note, procedure notes procedure documentation. Discharge
// summaries, operative and emergency notes are clinical documents.
func SubclassFor(loinc string) string {
	switch loinc {
	case "28570-0": // procedure note
		return "ENCOUNTERDOCUMENT_PROCEDUREDOC"
	case "18842-5": // discharge summary
		return "CLINICALDOCUMENT_ADMISSIONDISCHARGE"
	case "11504-8": // operative note
		return "CLINICALDOCUMENT_OPERATIVENOTE"
	case "34111-5": // emergency department note
		return "CLINICALDOCUMENT_URGENTCARE"
	}
	return "ENCOUNTERDOCUMENT_PROGRESSNOTE" // 11488-4, 11506-3, 34117-2 and the rest
}

// class is the document class (and endpoint) of a subclass:
// "encounterdocument" or "clinicaldocument".
func class(subclass string) string {
	if strings.HasPrefix(subclass, "ENCOUNTERDOCUMENT") {
		return "encounterdocument"
	}
	return "clinicaldocument"
}

// Marker is the internalnote line that identifies d's document.
func (c *Connector) Marker(d *connectors.Document) string {
	id := c.profile.NoteIdentifier(d)
	return MarkerPrefix + *id.System + "|" + *id.Value
}

// DocumentReference is the FHIR document for d, built by fhirdoc as for
// every EHR; Form maps it onto athenahealth's clinicaldocument fields.
func (c *Connector) DocumentReference(d *connectors.Document) (fhir.DocumentReference, error) {
	dr, err := fhirdoc.BuildDocumentReference(d, c.profile)
	if err != nil {
		return fhir.DocumentReference{}, connectors.Permanent(err)
	}
	return dr, nil
}

// Form returns the clinicaldocument form fields for d: what Push sends. It
// is the DocumentReference mapped field by field: the text/plain
// attachment becomes documentdata, type the documentsubclass, the
// attachment's creation the observation date and time, the author the
// providerid, and identifier, AI security label, authenticator and
// relatesTo the internalnote.
func (c *Connector) Form(d *connectors.Document) (url.Values, error) {
	if err := checkPatientID(d.Patient); err != nil {
		return nil, &connectors.PushError{Permanent: true, Message: "patient: " + err.Error(), Err: err}
	}
	dr, err := c.DocumentReference(d)
	if err != nil {
		return nil, err
	}
	att := dr.Content[0].Attachment
	text, err := base64.StdEncoding.DecodeString(deref(att.Data))
	if err != nil {
		return nil, &connectors.PushError{Permanent: true, Message: "document text is not base64", Err: err}
	}
	created, err := time.Parse(time.RFC3339, deref(att.Creation))
	if err != nil {
		created = d.ApprovedAt
	}
	created = created.In(c.loc)
	loinc := ""
	if dr.Type != nil && len(dr.Type.Coding) > 0 {
		loinc = deref(dr.Type.Coding[0].Code)
	}
	subclass := c.subclass
	if subclass == "" {
		subclass = SubclassFor(loinc)
	}
	id := dr.Identifier[0]
	note := []string{MarkerPrefix + deref(id.System) + "|" + deref(id.Value)}
	if dr.Meta != nil && len(dr.Meta.Security) > 0 {
		approver := ""
		if dr.Authenticator != nil {
			approver = strings.TrimPrefix(deref(dr.Authenticator.Reference), "Practitioner/")
		}
		note = append(note, "AI-assisted draft ("+nonEmpty(d.Drafter, "scribegate")+"), approved by clinician "+approver+" at "+deref(dr.Date))
	}
	for _, rel := range dr.RelatesTo {
		if rel.Target.Identifier != nil {
			note = append(note, "Replaces "+deref(rel.Target.Identifier.Value))
		}
	}
	f := url.Values{
		"departmentid":     {c.department},
		"documentsubclass": {subclass},
		"documentdata":     {string(text)},
		"internalnote":     {strings.Join(note, "\n")},
	}
	if class(subclass) == "encounterdocument" {
		// An encounter document belongs to the visit: its encounter, when
		// the note names an athena encounter. It takes no provider or
		// observation date (the encounter has them).
		if isDigits(d.Encounter) {
			f.Set("encounterid", d.Encounter)
		}
		return f, nil
	}
	f.Set("observationdate", created.Format("01/02/2006"))
	f.Set("observationtime", created.Format("15:04"))
	if len(dr.Author) > 0 {
		if p := strings.TrimPrefix(deref(dr.Author[0].Reference), "Practitioner/"); isDigits(p) {
			f.Set("providerid", p)
		}
	}
	return f, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Push files d through the ledger: never again once filed, and after a
// lost reply only when the document list proves it absent.
func (c *Connector) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	form, err := c.Form(d)
	if err != nil {
		return connectors.Receipt{}, err
	}
	log := c.log.With("instance", c.name, "note", d.NoteID, "version", d.Version)
	cls := class(form.Get("documentsubclass"))
	rc, err := c.guard.Push(ctx, connectors.Identifier(d.NoteID, d.Version),
		func(ctx context.Context) (string, bool, error) { return c.find(ctx, d, cls) },
		func(ctx context.Context) (string, error) { return c.create(ctx, d, cls, form) })
	if err != nil {
		log.Warn("athena: push failed", "err", err)
		return rc, err
	}
	log.Info("athena: filed", "external_id", rc.ExternalID, "duplicate", rc.Duplicate, "class", cls)
	return rc, nil
}

// create posts the form to the class's endpoint and returns the new
// document's id.
func (c *Connector) create(ctx context.Context, d *connectors.Document, cls string, form url.Values) (string, error) {
	path := "/v1/" + c.practice + "/patients/" + d.Patient + "/documents/" + cls
	resp, body, err := c.do(ctx, http.MethodPost, path, form, "the create")
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return "", classify(resp, body, c.now())
	}
	var r struct {
		ClinicalID   json.Number `json:"clinicaldocumentid"`
		EncounterID  json.Number `json:"encounterdocumentid"`
		DocumentID   json.Number `json:"documentid"`
		Success      *bool       `json:"success"`
		ErrorMessage string      `json:"errormessage"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", &connectors.PushError{StatusCode: resp.StatusCode, Message: "athenahealth reply unreadable", Err: err}
	}
	if r.Success != nil && !*r.Success {
		return "", &connectors.PushError{Permanent: true, StatusCode: resp.StatusCode, Message: "athenahealth: " + nonEmpty(r.ErrorMessage, "document not created")}
	}
	id := cmp.Or(r.ClinicalID, r.EncounterID, r.DocumentID)
	if id == "" {
		return "", &connectors.PushError{StatusCode: resp.StatusCode, Message: "athenahealth answered without a document id"}
	}
	return id.String(), nil
}

// listLimit and maxPages bound the look for an earlier push: pages of
// listLimit documents, at most maxPages of them.
const (
	listLimit = 100
	maxPages  = 50
)

// find lists the patient's documents of class cls in the department and
// looks for d's marker in their internal notes. It answers "absent" only
// when the whole list was read and shows internal notes; anything less is
// an error, so that the ledger never creates on a guess.
func (c *Connector) find(ctx context.Context, d *connectors.Document, cls string) (string, bool, error) {
	marker := c.Marker(d)
	q := url.Values{"departmentid": {c.department}, "limit": {strconv.Itoa(listLimit)}}
	path := "/v1/" + c.practice + "/patients/" + d.Patient + "/documents/" + cls + "?" + q.Encode()
	notesShown, listed := false, 0
	for page := 0; path != ""; page++ {
		if page == maxPages {
			return "", false, &connectors.PushError{Message: fmt.Sprintf("athenahealth's document list has more than %d pages; an earlier push cannot be ruled out", maxPages)}
		}
		resp, body, err := c.do(ctx, http.MethodGet, path, nil, "the search for an earlier push")
		if err != nil {
			return "", false, err
		}
		if resp.StatusCode != http.StatusOK {
			pe := classify(resp, body, c.now())
			if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest {
				// An unknown patient or department: athena's verdict on
				// the note itself, which no retry changes.
				pe.Permanent = true
				return "", false, pe
			}
			return "", false, connectors.NotJudged(pe, "")
		}
		docs, next, err := decodeDocuments(body)
		if err != nil {
			return "", false, &connectors.PushError{StatusCode: resp.StatusCode, Message: "athenahealth document list unreadable", Err: err}
		}
		for _, doc := range docs {
			listed++
			if doc.InternalNote == nil {
				continue
			}
			notesShown = true
			if hasMarker(*doc.InternalNote, marker) {
				return doc.id(), true, nil
			}
		}
		path = c.relative(next)
	}
	if listed > 0 && !notesShown {
		return "", false, &connectors.PushError{Message: "athenahealth's document list does not show internal notes, so an earlier push cannot be ruled out"}
	}
	return "", false, nil
}

// hasMarker reports whether an internal note carries marker as a whole line
// (athena appends to internal notes, so it may not be the first).
func hasMarker(note, marker string) bool {
	for line := range strings.Lines(note) {
		if strings.TrimSpace(line) == marker {
			return true
		}
	}
	return false
}

type listedDocument struct {
	ClinicalID  json.Number `json:"clinicaldocumentid"`
	EncounterID json.Number `json:"encounterdocumentid"`
	DocumentID  json.Number `json:"documentid"`
	// InternalNote is nil when the list does not return the field.
	InternalNote *string `json:"internalnote"`
}

func (d listedDocument) id() string {
	return cmp.Or(d.ClinicalID, d.EncounterID, d.DocumentID).String()
}

// decodeDocuments reads a document list, which athena returns either as a
// bare array or as an object with the list and paging (next, totalcount).
func decodeDocuments(body []byte) ([]listedDocument, string, error) {
	var arr []listedDocument
	if err := json.Unmarshal(body, &arr); err == nil {
		return arr, "", nil
	}
	var obj struct {
		Clinical  []listedDocument `json:"clinicaldocuments"`
		Encounter []listedDocument `json:"encounterdocuments"`
		Documents []listedDocument `json:"documents"`
		Next      string           `json:"next"`
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, "", err
	}
	return slices.Concat(obj.Clinical, obj.Encounter, obj.Documents), obj.Next, nil
}

// relative turns a next link (absolute or "/v1/…") into a path on base.
func (c *Connector) relative(next string) string {
	if next == "" {
		return ""
	}
	if u, err := url.Parse(next); err == nil && u.IsAbs() {
		return u.RequestURI()
	}
	return next
}

// do sends one API request (form-encoded when form is not nil) with a
// bearer token, refreshing the token once on a 401.
func (c *Connector) do(ctx context.Context, method, path string, form url.Values, op string) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, &connectors.PushError{Message: "push cancelled or timed out", Err: err}
		}
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return nil, nil, tokenFailure(ctx, err)
		}
		rctx, cancel := context.WithTimeout(ctx, c.timeout)
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(rctx, method, c.base+path, body)
		if err != nil {
			cancel()
			return nil, nil, &connectors.PushError{Permanent: true, Message: "cannot build the request", Err: err}
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := c.hc.Do(req)
		if err != nil {
			cancel()
			return nil, nil, networkError(ctx, op, err)
		}
		rbody, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		cancel()
		if err != nil {
			return nil, nil, networkError(ctx, op, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			c.tokens.Invalidate(tok.AccessToken)
			continue
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, nil, &connectors.PushError{StatusCode: resp.StatusCode,
				Message: "athenahealth refused a freshly issued token: " + errorText(rbody)}
		}
		return resp, rbody, nil
	}
}

// tokenFailure reports a failed token request as transient: it is the
// gateway's credentials at fault, and queued notes should go through once
// an operator fixes them.
func tokenFailure(ctx context.Context, err error) error {
	if refused := connectors.TokenRefused("athenahealth", err); refused != nil {
		return refused
	}
	return networkError(ctx, "the token request", err)
}

// Check fetches a token and pings the practice, filing nothing.
func (c *Connector) Check(ctx context.Context) []connectors.CheckResult {
	if _, err := c.tokens.Token(ctx); err != nil {
		return []connectors.CheckResult{{Name: "token", Detail: tokenFailure(ctx, err).Error()}}
	}
	out := []connectors.CheckResult{{Name: "token", OK: true, Detail: "client credentials token issued"}}
	res := connectors.CheckResult{Name: "practice " + c.practice}
	resp, body, err := c.do(ctx, http.MethodGet, "/v1/"+c.practice+"/ping", nil, "ping")
	switch {
	case err != nil:
		res.Detail = err.Error()
	case resp.StatusCode != http.StatusOK:
		res.Detail = classify(resp, body, c.now()).Error()
	default:
		res.OK = true
	}
	return append(out, res)
}

// errorText is athena's error explanation: the "error" field, which is
// meant for end users, else a short plain body.
func errorText(body []byte) string {
	var e struct {
		Error          string `json:"error"`
		DetailedMessge string `json:"detailedmessage"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// classify turns a non-success reply into a PushError.
func classify(resp *http.Response, body []byte, now time.Time) *connectors.PushError {
	text := errorText(body)
	if text == "" {
		text = http.StatusText(resp.StatusCode)
	}
	pe := &connectors.PushError{StatusCode: resp.StatusCode, Message: "athenahealth: " + text}
	overQPS := resp.StatusCode == http.StatusForbidden && strings.Contains(strings.ToLower(string(body)), "over qps")
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode >= 500, overQPS:
		pe.RetryAfter = fhirclient.RetryAfter(resp.Header, now)
	default:
		pe.Permanent = true
	}
	return pe
}

func networkError(ctx context.Context, op string, err error) *connectors.PushError {
	msg := "athenahealth did not answer " + op
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		msg += " in time"
	}
	return &connectors.PushError{Message: msg, Err: fmt.Errorf("athena: %s: %w", op, err)}
}
