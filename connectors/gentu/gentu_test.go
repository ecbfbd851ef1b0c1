package gentu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/connectors/gentu"
	"github.com/scribegate/scribegate/connectors/gentu/gentutest"
)

func document() *connectors.Document {
	return &connectors.Document{
		NoteID: "note-9c1d", Version: 1, Clinic: "clinic-sydney",
		Patient:     "ihi:8003608166690503",
		PatientName: "Jane Citizen", PatientBirthDate: "1980-02-29", PatientSex: "female",
		Author: "hpii:8003611566712356", AuthorName: "Dr Sam Ng",
		Approver: "hpii:8003611566712356", ApproverName: "Dr Sam Ng",
		ApprovedAt: time.Date(2025, 5, 6, 4, 0, 0, 0, time.UTC),
		LOINC:      "11506-3", LOINCDisplay: "Progress note", Title: "Follow-up",
		Text:    "Blood pressure 128/82. Continue current management. Review in 3 months.",
		Created: time.Date(2025, 5, 6, 3, 30, 0, 0, time.UTC),
		Drafter: "rules",
	}
}

func open(t *testing.T, srv *gentutest.Server) *gentu.Connector {
	t.Helper()
	secret := connectortest.SecretFile(t, gentutest.ClientSecret+"\n")
	c, err := gentu.New(context.Background(), connectors.Config{Name: "gentu-test"}, srv.Settings(secret))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGolden(t *testing.T) {
	c := open(t, gentutest.New(t))
	got, err := c.Build(document())
	if err != nil {
		t.Fatal(err)
	}
	connectortest.Golden(t, "documentreference.golden.json", got)
	var dr struct {
		Subject struct {
			Identifier struct{ System, Value string }
		}
	}
	json.Unmarshal(got, &dr)
	if dr.Subject.Identifier.System != auident.SystemIHI || dr.Subject.Identifier.Value != "8003608166690503" {
		t.Errorf("subject = %+v, want the IHI", dr.Subject)
	}
}

func TestPushIdempotentAcrossLostResponseAndTokenExpiry(t *testing.T) {
	srv := gentutest.New(t)
	c := open(t, srv)
	ctx := context.Background()
	d := document()

	// The create is filed but its reply is lost.
	srv.FHIR.Inject(fhirtest.Fault{Method: "POST", ResourceType: "DocumentReference", Drop: true}, 1)
	if _, err := c.Push(ctx, d); err == nil || connectors.IsPermanent(err) {
		t.Fatalf("lost reply: err = %v, want transient", err)
	}
	srv.Revoke() // and the token expires before the retry
	r, err := c.Push(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Duplicate || r.ExternalID == "" {
		t.Errorf("retry = %+v, want the earlier document as duplicate", r)
	}
	if n := len(srv.FHIR.Resources("DocumentReference")); n != 1 {
		t.Errorf("%d DocumentReferences filed, want 1", n)
	}
	if srv.TokensIssued() < 2 {
		t.Errorf("tokens issued = %d; the revoked token was not replaced", srv.TokensIssued())
	}

	// Many pushes, crossing several token lifetimes.
	for v := 2; v <= 6; v++ {
		d := document()
		d.Version = v
		if _, err := c.Push(ctx, d); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
	}
	if n := len(srv.FHIR.Resources("DocumentReference")); n != 6 {
		t.Errorf("%d DocumentReferences, want 6", n)
	}
	if n := len(srv.FHIR.Resources("Provenance")); n < 5 {
		t.Errorf("%d Provenances, want one per new document", n)
	}
}

func TestPushFailures(t *testing.T) {
	srv := gentutest.New(t)
	// fhirtest takes an injected fault before its auth check, so a request
	// refused for an expired token would use up the fault: keep tokens
	// alive here (expiry has its own test).
	srv.TokenUses = 1000
	c := open(t, srv)
	ctx := context.Background()

	srv.FHIR.Inject(fhirtest.Fault{Method: "POST", ResourceType: "DocumentReference", Status: 422, Message: "Patient is not registered at this practice"}, 1)
	_, err := c.Push(ctx, document())
	var pe *connectors.PushError
	if !errors.As(err, &pe) || !pe.Permanent || pe.Message == "" || !bytes.Contains([]byte(pe.Message), []byte("not registered")) {
		t.Errorf("422: err = %v, want permanent with the EHR's message", err)
	}
	srv.FHIR.Inject(fhirtest.Fault{Method: "POST", ResourceType: "DocumentReference", Status: 429, RetryAfter: 7 * time.Second}, 1)
	_, err = c.Push(ctx, document())
	if !errors.As(err, &pe) || pe.Permanent || pe.RetryAfter != 7*time.Second {
		t.Errorf("429: err = %+v, want transient with Retry-After 7s", err)
	}

	bad := document()
	bad.Patient = "ihi:8003608166690504"
	_, err = c.Push(ctx, bad)
	if !connectors.IsPermanent(err) || !errors.Is(err, auident.ErrInvalid) {
		t.Errorf("bad IHI: err = %v, want permanent wrapping auident.ErrInvalid", err)
	}
	if n := len(srv.FHIR.Resources("DocumentReference")); n != 0 {
		t.Errorf("%d documents filed by failing pushes", n)
	}
}

func TestWrongSecretIsTransientAndChecked(t *testing.T) {
	srv := gentutest.New(t)
	t.Setenv("GENTU_TEST_SECRET", "wrong")
	s := srv.Settings("")
	s.ClientSecretEnv = "GENTU_TEST_SECRET"
	c, err := gentu.New(context.Background(), connectors.Config{Name: "g"}, s)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Push(context.Background(), document())
	if err == nil || connectors.IsPermanent(err) {
		t.Errorf("wrong secret: err = %v, want transient (configuration, not the note)", err)
	}
	res := c.Check(context.Background())
	if len(res) == 0 || res[0].OK || res[0].Name != "token" {
		t.Errorf("Check = %+v, want a failing token check", res)
	}

	good := open(t, srv)
	res = good.Check(context.Background())
	if len(res) != 2 || !res[0].OK || !res[1].OK {
		t.Errorf("Check = %+v, want token and capabilities ok", res)
	}
}

func TestOpenStrictSettings(t *testing.T) {
	_, err := connectors.Open(context.Background(), gentu.Kind, connectors.Config{Name: "g", Decode: func(v any) error {
		return nil // nothing set
	}})
	if err == nil {
		t.Fatal("Open with no settings succeeded")
	}
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Setup: func(t *testing.T) (connectors.Connector, connectortest.Target) {
			srv := gentutest.New(t)
			srv.TokenUses = 1000 // expiry is driven by the kit's ExpireTokens
			return open(t, srv), &connectortest.FHIRTarget{
				Server: srv.FHIR, NoteSystem: gentu.NoteSystem,
				Expire: func() bool { srv.Revoke(); return true },
			}
		},
		Document: func(t *testing.T, i int) *connectors.Document {
			d := connectortest.Document(t, i)
			d.Patient = "medicare:2123456701"
			d.Author, d.Approver = "hpii:8003611566712356", "hpii:8003611566712356"
			return d
		},
	})
}

// TestProvenanceGolden keeps exactly the Provenance sent after the
// document: the AI device as author, the approving clinician as verifier.
func TestProvenanceGolden(t *testing.T) {
	srv := gentutest.New(t)
	if _, err := open(t, srv).Push(context.Background(), document()); err != nil {
		t.Fatal(err)
	}
	connectortest.Golden(t, "provenance.golden.json", connectortest.Sent(t, srv.FHIR, "Provenance"))
}
