package gentu_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/gentu/gentutest"
)

func TestSearchConformance(t *testing.T) {
	connectortest.RunSearch(t, connectortest.SearchHarness{
		Setup: func(t *testing.T) (connectortest.Searcher, connectortest.SearchTarget) {
			srv := gentutest.New(t)
			srv.TokenUses = 1000
			return open(t, srv), connectortest.AUFHIRSearchTarget(srv.FHIR)
		},
	})
}

// TestSearchedPatientIsFiled: a lookup by Medicare number finds the
// patient as Gentu holds them, across a token expiry and with the
// practice header, and the note is filed under that patient.
func TestSearchedPatientIsFiled(t *testing.T) {
	srv := gentutest.New(t) // tokens good for 3 requests: the run crosses expiry
	id, err := srv.FHIR.Seed([]byte(`{"resourceType":"Patient","identifier":[` +
		`{"system":"` + auident.SystemMedicare + `","value":"2123456701"}],` +
		`"name":[{"use":"official","family":"Citizen","given":["Jane"]}],"birthDate":"1980-02-29","gender":"female"}`))
	if err != nil {
		t.Fatal(err)
	}
	c := open(t, srv)
	var found []connectors.PatientMatch
	for range 3 {
		found, err = c.SearchPatients(context.Background(), connectors.PatientQuery{Identifier: "2123 45670 1", BirthDate: "1980-02-29"})
		if err != nil || len(found) != 1 || found[0].ID != id || found[0].Name != "Jane Citizen" || found[0].Sex != "female" {
			t.Fatalf("lookup: %+v, %v; want Jane Citizen, Gentu id %s", found, err, id)
		}
	}
	d := document()
	connectortest.UseMatch(t, c, d, found[0])
	if _, err := c.Push(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	docs := srv.FHIR.Resources("DocumentReference")
	if len(docs) != 1 || !strings.Contains(string(docs[0]), `"reference":"Patient/`+id+`"`) || !strings.Contains(string(docs[0]), "Jane Citizen") {
		t.Errorf("filed %s, want a DocumentReference about Patient/%s naming Jane Citizen", docs, id)
	}
}

// TestStandInChecksTokenBeforeSearch: a search without a token is refused
// 401 whatever it asks; with one, an unlisted parameter is a 400
// OperationOutcome, which the connector reports as an error.
func TestStandInChecksTokenBeforeSearch(t *testing.T) {
	srv := gentutest.New(t)
	req, _ := http.NewRequest(http.MethodGet, srv.BaseURL()+"/Patient?surname=Citizen", nil)
	req.Header.Set(gentutest.TenantHeader, gentutest.TenantID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a search without a token: %d, want 401", resp.StatusCode)
	}
	c := open(t, srv)
	if _, err := c.SearchPatients(context.Background(), connectors.PatientQuery{BirthDate: "1980"}); err != nil {
		t.Errorf("a year is a FHIR date: %v", err)
	}
	_, err = c.SearchPatients(context.Background(), connectors.PatientQuery{BirthDate: "29/02/1980"})
	if err == nil || !strings.Contains(err.Error(), "invalid value for search parameter birthdate") {
		t.Errorf("a birth date the server refuses: %v, want its OperationOutcome", err)
	}
}
