package epic

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/ledger"
	"github.com/scribegate/scribegate/connectors/tokencache"
)

// Kind is the connector kind this package registers.
const Kind = "epic"

func init() { connectors.Register(Kind, open) }

// DefaultNoteTypes are the LOINC note types filed when the configuration
// names none: the US Core common clinical notes a scribe drafts.
var DefaultNoteTypes = []string{"11488-4", "11506-3", "34117-2", "18842-5", "28570-0"}

const defaultTimeout = 30 * time.Second

// Settings is one Epic instance's configuration. Keys are strict: an
// unknown key fails start-up.
type Settings struct {
	// BaseURL is the FHIR R4 base, e.g.
	// https://fhir.example.org/interconnect-fhir-oauth/api/FHIR/R4.
	BaseURL string `yaml:"base_url"`
	// TokenURL is the OAuth 2.0 token endpoint; it is also the assertion's
	// aud.
	TokenURL string `yaml:"token_url"`
	// ClientID is the Backend Services client id Epic issued.
	ClientID string `yaml:"client_id"`
	// PrivateKeyFile is the PEM private key whose public key is registered
	// with the client.
	PrivateKeyFile string `yaml:"private_key_file"`
	// KeyID is the kid of the registered public key.
	KeyID string `yaml:"key_id"`
	// Algorithm is RS384 (default) or ES384.
	Algorithm string `yaml:"algorithm"`
	// NoteTypes are the LOINC codes this instance may file; others are
	// refused before sending. Empty means DefaultNoteTypes.
	NoteTypes []string `yaml:"note_types"`
	// DocStatus is "final" (default: files a signed note) or "preliminary"
	// (leaves an unsigned draft in the clinician's In Basket).
	DocStatus string `yaml:"doc_status"`
	// Timeout bounds every HTTP request ("30s" default).
	Timeout time.Duration `yaml:"timeout"`
	// IdentifierSystem is the system of the note identifier the document
	// carries; empty means fhirdoc.DefaultNoteSystem.
	IdentifierSystem string `yaml:"identifier_system"`
	// LedgerFile is where the push ledger is kept; empty means ledger.json
	// in the instance's state directory, or memory when there is none (see
	// ledger.StateFile).
	LedgerFile string `yaml:"ledger_file"`
}

// Options are what the gateway wires into a connector besides settings.
type Options struct {
	// HTTPClient sends every request; nil means a client with Timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Ledger overrides Settings.LedgerFile, e.g. with one in the gateway's
	// store.
	Ledger ledger.Ledger
	// Key overrides Settings.PrivateKeyFile (for keys from a KMS or tests).
	Key crypto.Signer
	// Name is the instance name, for logs.
	Name string
}

// Connector files clinical notes in one Epic instance. It is safe for
// concurrent use.
type Connector struct {
	name      string
	fhir      *fhirclient.Client
	tokens    *tokencache.Cache
	mu        sync.Mutex
	last      string // the token most recently handed out
	guard     *ledger.Guard
	profile   fhirdoc.Profile
	noteTypes []string
	log       *slog.Logger
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Checker   = (*Connector)(nil)
)

func open(ctx context.Context, c connectors.Config) (connectors.Connector, error) {
	var s Settings
	if err := c.Decode(&s); err != nil {
		return nil, fmt.Errorf("epic: settings: %w", err)
	}
	// The ledger is what keeps a resend from filing a second note in
	// Epic, so it is durable by default when the gateway gives a state
	// directory.
	var err error
	if s.LedgerFile, err = ledger.StateFile(c, s.LedgerFile); err != nil {
		return nil, fmt.Errorf("epic: %w", err)
	}
	return New(s, Options{HTTPClient: c.HTTPClient, Logger: c.Logger, Name: c.Name})
}

// New builds a connector from settings, checking them all up front so a
// misconfiguration stops start-up rather than the first push.
func New(s Settings, o Options) (*Connector, error) {
	var problems connectors.Problems
	problems.RequireURL("base_url", s.BaseURL)
	problems.RequireURL("token_url", s.TokenURL)
	problems.Require("client_id", s.ClientID)
	problems.Require("key_id", s.KeyID)
	if o.Key == nil {
		problems.Require("private_key_file", s.PrivateKeyFile)
	}
	timeout := problems.Timeout(s.Timeout, defaultTimeout)
	preliminary := false
	switch s.DocStatus {
	case "", "final":
	case "preliminary":
		preliminary = true
	default:
		problems.Addf("doc_status %q must be final or preliminary", s.DocStatus)
	}
	switch s.Algorithm {
	case "", "RS384", "ES384":
	default:
		problems.Addf("algorithm %q must be RS384 or ES384", s.Algorithm)
	}
	noteTypes := s.NoteTypes
	if len(noteTypes) == 0 {
		noteTypes = DefaultNoteTypes
	}
	if err := problems.Err("epic"); err != nil {
		return nil, err
	}
	key := o.Key
	if key == nil {
		var err error
		if key, err = LoadPrivateKey(s.PrivateKeyFile); err != nil {
			return nil, err
		}
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
		return nil, fmt.Errorf("epic: %w", err)
	}
	bs := &BackendServices{
		ClientID: s.ClientID, TokenURL: s.TokenURL, KeyID: s.KeyID, Key: key,
		Algorithm: s.Algorithm, HTTPClient: hc, Timeout: timeout,
	}
	if _, err := bs.method(); err != nil {
		return nil, err
	}
	c := &Connector{
		name:      o.Name,
		tokens:    tokencache.New(bs.TokenContext, time.Minute, nil),
		guard:     guard,
		profile:   fhirdoc.Profile{NoteSystem: s.IdentifierSystem, Preliminary: preliminary, Declare: true},
		noteTypes: slices.Clone(noteTypes),
		log:       log,
	}
	c.fhir = &fhirclient.Client{Base: s.BaseURL, HTTP: hc, Timeout: timeout, Auth: fhirclient.TokenFunc(c.token)}
	return c, nil
}

// Profile is how this connector builds documents, for golden tests and
// tools that show what would be sent.
func (c *Connector) Profile() fhirdoc.Profile { return c.profile }

// Build returns the DocumentReference JSON this connector would send for d,
// after Epic's own rules are checked. Push sends exactly this.
func (c *Connector) Build(d *connectors.Document) ([]byte, error) {
	if err := fhirdoc.Check(d); err != nil {
		return nil, permanent(err.Error(), err)
	}
	if !slices.Contains(c.noteTypes, d.LOINC) {
		return nil, permanent(fmt.Sprintf("this Epic instance does not accept note type LOINC %s (allowed: %s)",
			d.LOINC, strings.Join(c.noteTypes, ", ")), nil)
	}
	if d.Encounter == "" {
		return nil, permanent("Epic files a clinical note against an encounter, and this note has none", nil)
	}
	dr, err := fhirdoc.BuildDocumentReference(d, c.profile)
	if err != nil {
		return nil, permanent(err.Error(), err)
	}
	// Epic keeps only the first attachment, which must be text/plain.
	if len(dr.Content) > 1 {
		dr.Content = dr.Content[:1]
	}
	b, err := fhirdoc.Marshal(dr)
	if err != nil {
		return nil, permanent(err.Error(), err)
	}
	return b, nil
}

func permanent(msg string, err error) *connectors.PushError {
	return &connectors.PushError{Permanent: true, Message: msg, Err: err}
}

// Push files d as a clinical note. Epic has no conditional create, so the
// push goes through the ledger (package ledger): an attempt is recorded
// before sending, and after an attempt whose outcome is unknown the
// encounter's notes are searched — every page — for the document's
// identifier before anything is created again.
func (c *Connector) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	body, err := c.Build(d)
	if err != nil {
		return connectors.Receipt{}, err
	}
	log := c.log.With("instance", c.name, "note", d.NoteID, "version", d.Version)
	rc, err := c.guard.Push(ctx, connectors.Identifier(d.NoteID, d.Version),
		func(ctx context.Context) (string, bool, error) { return c.find(ctx, d) },
		func(ctx context.Context) (string, error) { return c.create(ctx, body) })
	if err != nil {
		log.Warn("epic: push failed", "err", err)
		return rc, err
	}
	log.Info("epic: filed", "external_id", rc.ExternalID, "duplicate", rc.Duplicate)
	return rc, nil
}

// create POSTs the DocumentReference; Epic answers 201 with a relative
// Location (DocumentReference/{id}) and an empty body. No If-None-Exist:
// Epic has no conditional create.
func (c *Connector) create(ctx context.Context, body []byte) (string, error) {
	cr, err := c.fhir.Create(ctx, fhirdoc.DocumentReferenceType, body, "")
	if err != nil {
		return "", err
	}
	if cr.ID == "" {
		// Filed, but we cannot say where: the next push finds it by search.
		return "", &connectors.PushError{StatusCode: cr.Response.StatusCode, Message: "Epic filed the note but sent no Location"}
	}
	return cr.ID, nil
}

// find searches the patient's notes on the encounter for d's identifier.
// Epic's clinical-notes search is by patient and encounter (Epic does not
// document an identifier search parameter for notes), so identifiers are
// compared here, on every page of the result (fhirclient.Search follows
// Bundle.link[next] and fails rather than answer from part of the list).
func (c *Connector) find(ctx context.Context, d *connectors.Document) (string, bool, error) {
	q := url.Values{"patient": {d.Patient}, "encounter": {d.Encounter}}
	b, err := c.fhir.Search(ctx, fhirdoc.DocumentReferenceType, q)
	if err != nil {
		return "", false, connectors.NotJudged(err, "cannot check Epic for an earlier push")
	}
	id := c.profile.NoteIdentifier(d)
	for _, r := range b.Matches() {
		if r.ResourceType == fhirdoc.DocumentReferenceType && r.HasIdentifier(*id.System, *id.Value) {
			return r.ID, true, nil
		}
	}
	return "", false, nil
}

// token is the fhirclient Auth: a cached Backend Services token, dropped
// when the server answered 401.
func (c *Connector) token(ctx context.Context, refresh bool) (string, error) {
	if refresh {
		c.mu.Lock()
		last := c.last
		c.mu.Unlock()
		c.tokens.Invalidate(last)
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return "", authFailure(err)
	}
	c.mu.Lock()
	c.last = tok.AccessToken
	c.mu.Unlock()
	return tok.AccessToken, nil
}

// authFailure reports a failed token request. It is transient: a wrong key
// or client id is the gateway's configuration, not the note's fault, and
// once an operator fixes it the queued notes should go through.
func authFailure(err error) error {
	var ae *AuthError
	if errors.As(err, &ae) {
		return &connectors.PushError{StatusCode: ae.StatusCode, Message: "Epic refused the gateway's credentials: " + strings.TrimSpace(ae.Code+" "+ae.Description), Err: err}
	}
	return &connectors.PushError{Message: "no token from Epic: " + err.Error(), Err: err}
}

// Check fetches a token and reads the server's CapabilityStatement, without
// filing anything.
func (c *Connector) Check(ctx context.Context) []connectors.CheckResult {
	if _, err := c.tokens.Token(ctx); err != nil {
		return []connectors.CheckResult{{Name: "token", Detail: authFailure(err).Error()}}
	}
	out := []connectors.CheckResult{{Name: "token", OK: true, Detail: "SMART Backend Services token issued"}}
	return append(out, c.fhir.CheckCreate(ctx, fhirdoc.DocumentReferenceType))
}
