// Package fhir is the generic FHIR R4 connector (kind "fhir"): it files a
// note as a DocumentReference, with a Provenance declaring the AI that
// drafted it, on any server that implements FHIR R4 create with conditional
// create (https://hl7.org/fhir/R4/http.html#ccreate) — HAPI FHIR, Azure
// Health Data Services, Google Cloud Healthcare, Medplum and the like.
//
// Idempotency is the server's: the DocumentReference is created with
// If-None-Exist on its note identifier, so a retry after a lost response
// finds the first one (HTTP 200) instead of filing a second. A server that
// ignores If-None-Exist would file twice; vendors without conditional create
// have their own connectors.
//
// Settings:
//
//	base_url: https://fhir.example/r4     # required
//	token_file: /run/secrets/fhir-token   # or token_env: FHIR_TOKEN, or token (tests only)
//	identifier_system: urn:scribegate:note
//	patient_system: ""                    # set to reference patients by identifier
//	practitioner_system: ""
//	timeout: 30s                          # per request
//	doc_status: final                     # or preliminary
//	html: false                           # add a text/html attachment
//	provenance: true
//
// A token file is re-read whenever the server answers 401, so an external
// agent can rotate it.
package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

// Kind is the name the connector registers under.
const Kind = "fhir"

func init() { connectors.Register(Kind, Open) }

// Settings are the instance settings, decoded strictly from configuration.
type Settings struct {
	BaseURL            string        `yaml:"base_url"`
	Token              string        `yaml:"token"`
	TokenFile          string        `yaml:"token_file"`
	TokenEnv           string        `yaml:"token_env"`
	IdentifierSystem   string        `yaml:"identifier_system"`
	PatientSystem      string        `yaml:"patient_system"`
	PractitionerSystem string        `yaml:"practitioner_system"`
	Timeout            time.Duration `yaml:"timeout"`
	DocStatus          string        `yaml:"doc_status"`
	HTML               bool          `yaml:"html"`
	// Provenance is a pointer so that unset means true.
	Provenance *bool `yaml:"provenance"`
}

// Connector pushes to one FHIR server.
type Connector struct {
	client     *fhirclient.Client
	profile    fhirdoc.Profile
	provenance bool
	log        *slog.Logger
}

// Open is the connector's Factory.
func Open(ctx context.Context, c connectors.Config) (connectors.Connector, error) {
	var s Settings
	if err := c.Decode(&s); err != nil {
		return nil, fmt.Errorf("fhir: settings: %w", err)
	}
	return New(s, c.HTTPClient, c.Logger)
}

// New builds a connector from settings; hc and log may be nil.
func New(s Settings, hc *http.Client, log *slog.Logger) (*Connector, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(s.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fhir: base_url %q is not an http(s) URL", s.BaseURL)
	}
	timeout, err := connectors.Timeout(s.Timeout, 0)
	if err != nil {
		return nil, fmt.Errorf("fhir: %w", err)
	}
	p := fhirdoc.Profile{
		NoteSystem:         s.IdentifierSystem,
		PatientSystem:      s.PatientSystem,
		PractitionerSystem: s.PractitionerSystem,
		HTML:               s.HTML,
	}
	switch s.DocStatus {
	case "", "final":
	case "preliminary":
		p.Preliminary = true
	default:
		return nil, fmt.Errorf("fhir: doc_status %q: want final or preliminary", s.DocStatus)
	}
	auth, err := tokenAuth(s)
	if err != nil {
		return nil, err
	}
	return &Connector{
		client: &fhirclient.Client{
			Base:    strings.TrimSuffix(s.BaseURL, "/"),
			HTTP:    hc,
			Auth:    auth,
			Timeout: timeout,
		},
		profile:    p,
		provenance: s.Provenance == nil || *s.Provenance,
		log:        log,
	}, nil
}

// tokenAuth picks the one configured token source, if any. A token from
// token_file or token_env is read as every connector reads a secret
// (connectors.ReadSecret), at start-up to fail early and then again for
// every request: a rotated file takes effect at once, and a 401 retry sees
// the newest token.
func tokenAuth(s Settings) (fhirclient.Auth, error) {
	switch {
	case s.Token != "" && (s.TokenFile != "" || s.TokenEnv != ""):
		return nil, errors.New("fhir: set at most one of token, token_file, token_env")
	case s.Token != "":
		return fhirclient.StaticToken(s.Token), nil
	case s.TokenFile == "" && s.TokenEnv == "":
		return nil, nil
	}
	read := func() (string, error) {
		tok, err := connectors.ReadSecret(s.TokenFile, s.TokenEnv)
		if err != nil {
			return "", fmt.Errorf("fhir: token (token_file or token_env): %w", err)
		}
		return tok, nil
	}
	if _, err := read(); err != nil {
		return nil, err
	}
	return fhirclient.TokenFunc(func(context.Context, bool) (string, error) { return read() }), nil
}

// Push files d, judged by what the EHR holds: it searches for the note
// identifier first, so a document already filed is never sent again
// whatever the attempt count; otherwise it creates the DocumentReference
// conditionally (If-None-Exist). Then the Provenance, unless one already
// targets the document. A Provenance that cannot be filed yet is a
// transient failure that says the document is filed.
func (c *Connector) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	body, err := fhirdoc.DocumentReferenceJSON(d, c.profile)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	created, err := c.client.FileDocument(ctx, d, c.profile, body)
	if err != nil {
		return connectors.Receipt{}, err
	}
	docID, existing := created.ID, created.Existing
	if docID == "" {
		// A server that answers without Location or body: find it.
		id := c.profile.NoteIdentifier(d)
		again, err := c.client.SearchIdentifier(ctx, "DocumentReference", *id.System, *id.Value)
		if err != nil {
			return connectors.Receipt{}, connectors.NotJudged(err, "the EHR accepted the document but did not say where it is")
		}
		if len(again) != 1 {
			return connectors.Receipt{}, &connectors.PushError{StatusCode: created.Response.StatusCode,
				Message: fmt.Sprintf("the EHR accepted the document but %d documents carry its identifier", len(again))}
		}
		docID = again[0].ID
	}
	ref := "DocumentReference/" + docID
	rc := connectors.Receipt{ExternalID: ref, Duplicate: existing}
	c.log.InfoContext(ctx, "fhir: document filed", "note", d.NoteID, "version", d.Version, "external_id", ref, "duplicate", existing)
	if !c.provenance {
		return rc, nil
	}
	if err := c.client.FileProvenance(ctx, d, docID, c.profile, !existing); err != nil {
		if connectors.IsPermanent(err) {
			// The note is filed; a server that refuses Provenance must not
			// make the clinician's note look failed. The document itself
			// carries the AI security label.
			c.log.WarnContext(ctx, "fhir: provenance refused", "note", d.NoteID, "version", d.Version, "err", err)
			return rc, nil
		}
		return connectors.Receipt{}, err
	}
	return rc, nil
}

// Check reads the server's CapabilityStatement: it must answer (with our
// credentials), speak FHIR 4.0.x and declare DocumentReference create. It
// files nothing.
func (c *Connector) Check(ctx context.Context) []connectors.CheckResult {
	resp, err := c.client.Do(ctx, http.MethodGet, "metadata", nil, nil, nil)
	if err != nil {
		msg := err.Error()
		var pe *connectors.PushError
		if errors.As(err, &pe) {
			msg = pe.Message
		}
		return []connectors.CheckResult{{Name: "capabilities", Detail: msg}}
	}
	var cs struct {
		ResourceType string `json:"resourceType"`
		FHIRVersion  string `json:"fhirVersion"`
		Rest         []struct {
			Resource []struct {
				Type              string `json:"type"`
				ConditionalCreate bool   `json:"conditionalCreate"`
				Interaction       []struct {
					Code string `json:"code"`
				} `json:"interaction"`
			} `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(resp.Body, &cs); err != nil || cs.ResourceType != "CapabilityStatement" {
		return []connectors.CheckResult{{Name: "capabilities", Detail: "the server's /metadata is not a CapabilityStatement"}}
	}
	out := []connectors.CheckResult{{Name: "capabilities", OK: true, Detail: "FHIR " + cs.FHIRVersion}}
	out = append(out, connectors.CheckResult{Name: "FHIR R4", OK: strings.HasPrefix(cs.FHIRVersion, "4.0"), Detail: "fhirVersion " + cs.FHIRVersion})
	create, conditional := false, false
	for _, r := range cs.Rest {
		for _, res := range r.Resource {
			if res.Type != "DocumentReference" {
				continue
			}
			conditional = res.ConditionalCreate
			for _, in := range res.Interaction {
				create = create || in.Code == "create"
			}
		}
	}
	out = append(out,
		connectors.CheckResult{Name: "capabilities: DocumentReference create", OK: create},
		connectors.CheckResult{Name: "capabilities: conditional create", OK: conditional,
			Detail: "without it a retry after a lost response can file a note twice"})
	return out
}
