package bestpractice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

// NoteSystem is the identifier system of our note identifier.
const NoteSystem = "urn:scribegate:note"

// fhirTransport files notes through Halo Connect's FHIR API for Bp
// Premier. Halo Cloud authenticates integrators with an Azure API
// Management subscription key header, not OAuth.
type fhirTransport struct {
	fc       *fhirclient.Client
	log      *slog.Logger
	profiles []string
}

func newFHIRTransport(c connectors.Config, s Settings) (*fhirTransport, error) {
	if s.BaseURL == "" {
		return nil, errors.New("bestpractice: base_url is required for transport fhir")
	}
	key, err := connectors.ReadSecret(s.SubscriptionKeyFile, s.SubscriptionKeyEnv)
	if err != nil {
		return nil, fmt.Errorf("bestpractice: subscription key: %w", err)
	}
	header := s.SubscriptionKeyHeader
	if header == "" {
		header = DefaultSubscriptionKeyHeader
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &fhirTransport{
		fc: &fhirclient.Client{
			Base:    strings.TrimRight(s.BaseURL, "/"),
			HTTP:    c.HTTPClient,
			Timeout: s.Timeout,
			Header:  http.Header{http.CanonicalHeaderKey(header): {key}},
		},
		log:      log,
		profiles: s.Profiles,
	}, nil
}

// profile names identifier systems from how the document names its people
// and returns a copy of d with the bare values fhirdoc expects.
func profile(d *connectors.Document, patient, author auident.Ref) (fhirdoc.Profile, *connectors.Document, error) {
	p := fhirdoc.Profile{NoteSystem: NoteSystem, PatientSystem: patient.System()}
	cp := *d
	cp.Patient = patient.Value
	var approver auident.Ref
	if d.Approver != "" {
		approver, _ = auident.Parse(d.Approver) // validated by refs
		cp.Approver = approver.Value
	}
	if d.Author != "" {
		cp.Author = author.Value
		if d.Approver != "" && author.Kind != approver.Kind {
			return p, nil, fmt.Errorf("%w: author and approver must both be HPI-Is or both Bp Premier ids", auident.ErrInvalid)
		}
		p.PractitionerSystem = author.System()
	} else {
		p.PractitionerSystem = approver.System()
	}
	return p, &cp, nil
}

// build is the DocumentReference JSON for d.
func (t *fhirTransport) build(d *connectors.Document, patient, author auident.Ref) ([]byte, fhirdoc.Profile, *connectors.Document, error) {
	p, cp, err := profile(d, patient, author)
	if err != nil {
		return nil, p, nil, err
	}
	dr, err := fhirdoc.BuildDocumentReference(cp, p)
	if err != nil {
		return nil, p, nil, err
	}
	if len(t.profiles) > 0 {
		dr.Meta.Profile = t.profiles
	}
	b, err := fhirdoc.Marshal(dr)
	return b, p, cp, err
}

// push searches for the note identifier, then creates with If-None-Exist:
// Halo's FHIR API is a facade over the practice database and may not honour
// conditional create, so the search is what makes a retry safe.
func (t *fhirTransport) push(ctx context.Context, d *connectors.Document, patient, author auident.Ref) (connectors.Receipt, error) {
	body, p, cp, err := t.build(d, patient, author)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	log := t.log.With("note", d.NoteID, "version", d.Version)
	cr, err := t.fc.FileDocument(ctx, cp, p, body)
	if err != nil {
		return connectors.Receipt{}, prefix(err)
	}
	ext, dup := cr.ID, cr.Existing
	// The AI declaration is judged by what Bp Premier holds too: a
	// Provenance is filed unless one already targets the document.
	if err := t.fc.FileProvenance(ctx, cp, ext, p, !dup); err != nil {
		log.WarnContext(ctx, "bestpractice: provenance not filed", "external_id", ext, "err", err)
		if !connectors.IsPermanent(err) {
			return connectors.Receipt{}, prefix(err)
		}
	}
	log.InfoContext(ctx, "bestpractice: filed", "external_id", ext, "duplicate", dup)
	return connectors.Receipt{ExternalID: ext, Duplicate: dup}, nil
}

func prefix(err error) error {
	var pe *connectors.PushError
	if errors.As(err, &pe) {
		cp := *pe
		cp.Message = "Bp Premier (Halo): " + pe.Message
		if pe.StatusCode == http.StatusUnauthorized {
			// A refused subscription key is the gateway's configuration,
			// not the note: keep it queued until an operator fixes it.
			cp.Permanent = false
			cp.Message = "Bp Premier (Halo) refused the subscription key: " + pe.Message
		}
		return &cp
	}
	return err
}

// check reads the CapabilityStatement with the subscription key: it proves
// the key, the site's Halo GUID in base_url and DocumentReference create.
func (t *fhirTransport) check(ctx context.Context) []connectors.CheckResult {
	key := connectors.CheckResult{Name: "subscription key"}
	resp, err := t.fc.Do(ctx, http.MethodGet, "metadata", nil, nil, nil)
	if err != nil {
		key.Detail = err.Error()
		return []connectors.CheckResult{key}
	}
	key.OK, key.Detail = true, "Halo Cloud accepted the key"
	return []connectors.CheckResult{key, fhirclient.CreateCheck(resp.Body, fhirdoc.DocumentReferenceType)}
}
