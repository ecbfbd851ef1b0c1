package cerner

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

// Kind is the name in configuration ("kind: cerner").
const Kind = "cerner"

// Step 1: register the kind. A blank import of this package is all the
// gateway needs to offer it.
func init() { connectors.Register(Kind, Open) }

// Settings are the instance's configuration keys. Config.Decode is strict:
// a misspelt key fails at start-up.
type Settings struct {
	// BaseURL is the tenant's FHIR R4 base,
	// https://fhir-ehr.cerner.com/r4/{tenant-id}.
	BaseURL string `yaml:"base_url"`
	// ClientCredentials are the system account's (Cerner Central): the
	// tenant's token endpoint,
	// https://authorization.cerner.com/tenants/{tenant-id}/protocols/oauth2/profiles/smart-v1/token,
	// the client id and its secret. Scopes default to DefaultScopes.
	connectors.ClientCredentials `yaml:",inline"`
	// Timeout bounds one request (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultScopes: write notes, and read them to find an earlier push.
var DefaultScopes = []string{"system/DocumentReference.write", "system/DocumentReference.read"}

// Connector files notes in one Millennium tenant.
type Connector struct {
	fhir    *fhirclient.Client
	fetch   func(context.Context) (string, time.Duration, error)
	profile fhirdoc.Profile
}

// Open is the Factory: decode settings, build the client.
func Open(ctx context.Context, c connectors.Config) (connectors.Connector, error) {
	var s Settings
	if err := c.Decode(&s); err != nil {
		return nil, fmt.Errorf("cerner: settings: %w", err)
	}
	var problems connectors.Problems
	problems.RequireURL("base_url", s.BaseURL)
	cc := s.Grant(&problems, "", DefaultScopes)
	s.Timeout = problems.Timeout(s.Timeout, 0)
	if err := problems.Err("cerner"); err != nil {
		return nil, err
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	// Step 2: authentication. Client credentials with the secret in an
	// HTTP Basic header, as Oracle Health's system accounts use.
	fetch := fhirclient.ClientCredentials(cc, hc, "Oracle Health")
	return &Connector{
		fhir:    &fhirclient.Client{Base: s.BaseURL, HTTP: hc, Auth: fhirclient.CachedToken(fetch), Timeout: s.Timeout},
		fetch:   fetch,
		profile: fhirdoc.Profile{Declare: true},
	}, nil
}

// Push files d. Step 3: build with fhirdoc, never by hand. Step 4: make it
// idempotent. Millennium has no conditional create and no identifier
// search on DocumentReference, so the connector lists the patient's
// documents and looks for our identifier before creating.
func (c *Connector) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	if d.Encounter == "" {
		err := fmt.Errorf("%w: Millennium files notes on an encounter", fhirdoc.ErrInvalidDocument)
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	body, err := fhirdoc.DocumentReferenceJSON(d, c.profile)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	if id, found, err := c.find(ctx, d); err != nil || found {
		return connectors.Receipt{ExternalID: id, Duplicate: found}, err
	}
	// Step 5: errors. fhirclient classifies for us: 408/429/5xx and network
	// failures transient, other 4xx permanent with the OperationOutcome
	// text; a 401 refetches the token and resends once.
	cr, err := c.fhir.Create(ctx, fhirdoc.DocumentReferenceType, body, "")
	if err != nil {
		return connectors.Receipt{}, err
	}
	return connectors.Receipt{ExternalID: cr.ID}, nil
}

// find looks for an earlier push among the patient's documents on the
// note's encounter, every page of them (fhirclient.Search follows
// Bundle.link[next], 100 a page, and fails rather than answer from part of
// the list).
func (c *Connector) find(ctx context.Context, d *connectors.Document) (string, bool, error) {
	b, err := c.fhir.Search(ctx, fhirdoc.DocumentReferenceType, url.Values{
		"patient": {d.Patient}, "encounter": {d.Encounter}, "_count": {"100"},
	})
	if err != nil {
		return "", false, connectors.NotJudged(err, "cannot check Oracle Health for an earlier push")
	}
	id := c.profile.NoteIdentifier(d)
	for _, r := range b.Matches() {
		if r.HasIdentifier(*id.System, *id.Value) {
			return r.ID, true, nil
		}
	}
	return "", false, nil
}

// Check implements connectors.Checker for `scribegate connectors check`.
func (c *Connector) Check(ctx context.Context) []connectors.CheckResult {
	if _, _, err := c.fetch(ctx); err != nil {
		return []connectors.CheckResult{{Name: "token", Detail: err.Error()}}
	}
	return []connectors.CheckResult{{Name: "token", OK: true}, c.fhir.CheckCreate(ctx, fhirdoc.DocumentReferenceType)}
}
