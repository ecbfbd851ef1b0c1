package gentu

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

// Kind is the connector kind name used in configuration.
const Kind = "gentu"

// NoteSystem is the identifier system of our note identifier in Gentu.
const NoteSystem = "urn:scribegate:note"

func init() { connectors.Register(Kind, Open) }

// Settings are an instance's configuration keys. The client secret is never
// inline: it is read from a file or an environment variable.
type Settings struct {
	// BaseURL is the partner API's FHIR R4 base URL.
	BaseURL string `yaml:"base_url"`
	// ClientCredentials are the partner credentials Magentus issues: the
	// token endpoint, client id and secret, and the scopes requested with
	// the token, if the partner API wants any.
	connectors.ClientCredentials `yaml:",inline"`
	// AuthStyle is how the client authenticates at the token endpoint:
	// "basic" (HTTP Basic, the default, RFC 6749 section 2.3.1) or "body"
	// (client_id and client_secret as form fields).
	AuthStyle string `yaml:"auth_style"`
	// TenantHeader and TenantID name the practice on every FHIR request
	// (e.g. "X-Practice-Id: 1234"); both or neither.
	TenantHeader string `yaml:"tenant_header"`
	TenantID     string `yaml:"tenant_id"`
	// Provenance also files the AI-transparency Provenance (default true).
	Provenance *bool `yaml:"provenance"`
	// HTML adds an XHTML rendition after the text/plain attachment.
	HTML bool `yaml:"html"`
	// Profiles are canonical URLs claimed in meta.profile (none by default).
	Profiles []string `yaml:"profiles"`
	// Timeout bounds one HTTP request (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// Connector files notes in one Gentu practice.
type Connector struct {
	name       string
	log        *slog.Logger
	fhir       *fhirclient.Client
	fetch      func(context.Context) (string, time.Duration, error)
	provenance bool
	html       bool
	profiles   []string
}

// Open is the Factory for kind "gentu".
func Open(ctx context.Context, c connectors.Config) (connectors.Connector, error) {
	var s Settings
	if err := c.Decode(&s); err != nil {
		return nil, fmt.Errorf("gentu: settings: %w", err)
	}
	return New(ctx, c, s)
}

// New builds a Connector from decoded settings; Open is the usual entry.
func New(ctx context.Context, c connectors.Config, s Settings) (*Connector, error) {
	var problems connectors.Problems
	problems.RequireURL("base_url", s.BaseURL)
	cc := s.Grant(&problems, "", nil)
	if (s.TenantHeader == "") != (s.TenantID == "") {
		problems.Addf("tenant_header and tenant_id go together")
	}
	switch s.AuthStyle {
	case "", "basic":
	case "body":
		cc.AuthStyle = oauth2.AuthStyleInParams
	default:
		problems.Addf("auth_style %q: want basic or body", s.AuthStyle)
	}
	s.Timeout = problems.Timeout(s.Timeout, 30*time.Second)
	if err := problems.Err("gentu"); err != nil {
		return nil, err
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 2 * s.Timeout}
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.WarnContext(ctx, "gentu: experimental connector: Magentus publishes no API reference, so its endpoints are assumptions; check it against the partner sandbox", "instance", c.Name)
	fetch := fhirclient.ClientCredentials(cc, hc, "Gentu")
	fc := &fhirclient.Client{
		Base:    strings.TrimRight(s.BaseURL, "/"),
		HTTP:    hc,
		Auth:    fhirclient.CachedToken(fetch),
		Timeout: s.Timeout,
	}
	if s.TenantHeader != "" {
		fc.Header = http.Header{http.CanonicalHeaderKey(s.TenantHeader): {s.TenantID}}
	}
	prov := s.Provenance == nil || *s.Provenance
	return &Connector{
		name: c.Name, log: log, fhir: fc, fetch: fetch, provenance: prov, html: s.HTML, profiles: s.Profiles,
	}, nil
}

// Profile is how documents are built for Gentu, for tests and tools that
// want to see exactly what is sent.
func (c *Connector) Profile(d *connectors.Document) (fhirdoc.Profile, *connectors.Document, error) {
	return profileFor(d, c.html)
}

// ValidatePatientID applies Push's patient rules when a recording starts:
// an IHI (a bare 16-digit 800360 number included) or a Medicare number
// must carry the right check digit, a provider identifier is no patient,
// and a Gentu patient id must be a FHIR logical id.
func (c *Connector) ValidatePatientID(id string) error {
	_, err := auident.ParsePatient(id)
	return err
}

// profileFor picks identifier systems from how the document names its
// patient and clinicians, validating AU identifiers, and returns a copy of d
// with the bare identifier values fhirdoc expects.
func profileFor(d *connectors.Document, html bool) (fhirdoc.Profile, *connectors.Document, error) {
	p := fhirdoc.Profile{NoteSystem: NoteSystem, HTML: html}
	if d == nil {
		return p, nil, fmt.Errorf("%w: nil document", fhirdoc.ErrInvalidDocument)
	}
	cp := *d
	patient, err := auident.ParsePatient(d.Patient)
	if err != nil {
		return p, nil, fmt.Errorf("patient: %w", err)
	}
	p.PatientSystem, cp.Patient = patient.System(), patient.Value
	var kinds []auident.Kind
	for _, v := range []*string{&cp.Author, &cp.Approver} {
		if *v == "" {
			continue
		}
		r, err := auident.Parse(*v)
		if err != nil {
			return p, nil, fmt.Errorf("practitioner: %w", err)
		}
		if r.Kind != "" && r.Kind != auident.HPII {
			return p, nil, fmt.Errorf("practitioner: %w: practitioners are identified by HPI-I", auident.ErrInvalid)
		}
		*v = r.Value
		kinds = append(kinds, r.Kind)
	}
	// fhirdoc has one practitioner system per profile: author and approver
	// must be named the same way.
	if len(kinds) == 2 && kinds[0] != kinds[1] {
		return p, nil, fmt.Errorf("%w: author and approver must both be HPI-Is or both Gentu ids", auident.ErrInvalid)
	}
	if len(kinds) > 0 {
		p.PractitionerSystem = kinds[0].System()
	}
	return p, &cp, nil
}

// Build returns the DocumentReference JSON for d exactly as Push sends it.
func (c *Connector) Build(d *connectors.Document) ([]byte, error) {
	p, cp, err := profileFor(d, c.html)
	if err != nil {
		return nil, err
	}
	return buildJSON(cp, p, c.profiles)
}

func buildJSON(d *connectors.Document, p fhirdoc.Profile, profiles []string) ([]byte, error) {
	dr, err := fhirdoc.BuildDocumentReference(d, p)
	if err != nil {
		return nil, err
	}
	if len(profiles) > 0 {
		dr.Meta.Profile = profiles
	}
	// Gentu's staff match an attachment to a chart on name and birth date
	// (the partner API's own matching fields are not published).
	if who := fhirdoc.PatientDisplay(d); who != "" && dr.Subject != nil {
		dr.Subject.Display = &who
	}
	return fhirdoc.Marshal(dr)
}

// Push files d as a DocumentReference. It searches for the note identifier
// first and creates with If-None-Exist, so a retry after a lost response
// finds the earlier document instead of filing a second one.
func (c *Connector) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	p, cp, err := profileFor(d, c.html)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	body, err := buildJSON(cp, p, c.profiles)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	log := c.log.With("instance", c.name, "note", d.NoteID, "version", d.Version)
	cr, err := c.fhir.FileDocument(ctx, cp, p, body)
	if err != nil {
		log.WarnContext(ctx, "gentu: document not filed", "err", err)
		return connectors.Receipt{}, err
	}
	ext, dup := cr.ID, cr.Existing
	if c.provenance {
		// A refused Provenance leaves the filed note as it is (it carries
		// the AI label); one not filed yet keeps the note queued.
		if err := c.fhir.FileProvenance(ctx, cp, ext, p, !dup); err != nil {
			log.WarnContext(ctx, "gentu: provenance not filed", "external_id", ext, "err", err)
			if !connectors.IsPermanent(err) {
				return connectors.Receipt{}, err
			}
		}
	}
	log.InfoContext(ctx, "gentu: filed", "external_id", ext, "duplicate", dup)
	return connectors.Receipt{ExternalID: ext, Duplicate: dup}, nil
}

// Check implements connectors.Checker: a token, then the
// CapabilityStatement's DocumentReference create.
func (c *Connector) Check(ctx context.Context) []connectors.CheckResult {
	tok := connectors.CheckResult{Name: "token"}
	if _, _, err := c.fetch(ctx); err != nil {
		tok.Detail = err.Error()
		return []connectors.CheckResult{tok}
	}
	tok.OK, tok.Detail = true, "client credentials token issued"
	return []connectors.CheckResult{tok, c.fhir.CheckCreate(ctx, fhirdoc.DocumentReferenceType)}
}
