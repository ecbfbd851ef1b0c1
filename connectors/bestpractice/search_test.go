package bestpractice

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/connectortest"
)

// haloPatientParams are the Patient search parameters the Halo stand-in
// lists (the FHIR R4 ones a lookup needs); others are refused as a server
// under Prefer: handling=strict refuses them.
var haloPatientParams = []string{"_id", "_count", "identifier", "name", "family", "given", "birthdate", "gender"}

func TestSearchConformance(t *testing.T) {
	connectortest.RunSearch(t, connectortest.SearchHarness{
		Setup: func(t *testing.T) (connectortest.Searcher, connectortest.SearchTarget) {
			site := newHaloSite(t)
			return Searching{openFHIR(t, site, testHaloKey)}, connectortest.AUFHIRSearchTarget(site.fhir)
		},
	})
}

// TestSearchByAustralianIdentifiers: a lookup by IHI (however typed),
// Medicare number or Bp Premier id finds the patient as Bp Premier holds
// them, and the note is filed under that patient; a mistyped number is a
// connectors.QueryError saying what is wrong, without asking Halo.
func TestSearchByAustralianIdentifiers(t *testing.T) {
	site := newHaloSite(t)
	id, err := site.fhir.Seed([]byte(`{"resourceType":"Patient","identifier":[` +
		`{"system":"` + auident.SystemIHI + `","value":"8003608166690503"},` +
		`{"system":"` + auident.SystemMedicare + `","value":"2123456701"}],` +
		`"name":[{"use":"official","family":"Citizen","given":["Jane"]}],"birthDate":"1980-02-29","gender":"female"}`))
	if err != nil {
		t.Fatal(err)
	}
	c := Searching{openFHIR(t, site, testHaloKey)}
	for _, ident := range []string{"ihi:8003608166690503", "8003 6081 6669 0503", "2123 45670 1", "medicare:2123456701", id} {
		got, err := c.SearchPatients(context.Background(), connectors.PatientQuery{Identifier: ident})
		if err != nil || len(got) != 1 || got[0].ID != id || got[0].Name != "Jane Citizen" || got[0].BirthDate != "1980-02-29" {
			t.Errorf("identifier %q: %+v, %v; want Jane Citizen, Bp Premier id %s", ident, got, err, id)
		}
		if err == nil && len(got) == 1 && !strings.Contains(strings.Join(got[0].Identifiers, " "), "8003608166690503") {
			t.Errorf("identifier %q: match lists %v, want the IHI among them", ident, got[0].Identifiers)
		}
	}
	before := len(site.fhir.Requests())
	for ident, problem := range map[string]string{
		"8003608166690504":      "IHI check digit is wrong",
		"2123 45671 1":          "not an IHI (16 digits) or a Medicare number",
		"2123456711":            "Medicare number check digit is wrong",
		"medicare:212345670":    "Medicare number must be 10 digits",
		"hpii:8003611566712356": "not a patient identifier",
	} {
		_, err := c.SearchPatients(context.Background(), connectors.PatientQuery{Identifier: ident})
		connectortest.CheckQueryError(t, err, problem)
	}
	if len(site.fhir.Requests()) != before {
		t.Error("a mistyped identifier was sent to Halo")
	}

	// The match is the patient the note is filed under.
	found, _ := c.SearchPatients(context.Background(), connectors.PatientQuery{Name: "Jane Citizen"})
	if len(found) != 1 {
		t.Fatalf("by name: %+v", found)
	}
	d := auKitDocument(t, 0)
	connectortest.UseMatch(t, c, d, found[0])
	if _, err := c.Push(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	docs := site.fhir.Resources("DocumentReference")
	if len(docs) != 1 || !strings.Contains(string(docs[0]), `"reference":"Patient/`+id+`"`) {
		t.Errorf("filed %s, want a DocumentReference about Patient/%s", docs, id)
	}
}

// TestHaloStandInRefusesBadSearches: the stand-in answers a search it
// does not support as a strict FHIR server does, 400 with an
// OperationOutcome, and the connector surfaces it as an error.
func TestHaloStandInRefusesBadSearches(t *testing.T) {
	site := newHaloSite(t)
	for _, tc := range []struct{ query, code string }{
		{"surname=Citizen", "not-supported"},
		{"name:contains=Cit", "not-supported"},
		{"birthdate=29/02/1980", "invalid"},
		{"", "invalid"},
	} {
		req, _ := http.NewRequest(http.MethodGet, site.base+"/Patient?"+tc.query, nil)
		req.Header.Set(DefaultSubscriptionKeyHeader, testHaloKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"`+tc.code+`"`) {
			t.Errorf("?%s: %d %s, want 400 %s", tc.query, resp.StatusCode, body, tc.code)
		}
	}
	if _, err := (Searching{openFHIR(t, site, "wrong-key")}).SearchPatients(context.Background(), connectors.PatientQuery{Name: "Citizen"}); err == nil ||
		!strings.Contains(err.Error(), "subscription key") {
		t.Errorf("a refused key: %v, want an error naming the subscription key", err)
	}
}

// TestOnlyFHIRTransportSearches: Open offers a patient search on transport
// fhir, and none on hl7file, where Bp Premier answers nothing.
func TestOnlyFHIRTransportSearches(t *testing.T) {
	site := newHaloSite(t)
	key := connectortest.SecretFile(t, testHaloKey)
	inbox := filepath.Join(t.TempDir(), "inbox")
	os.Mkdir(inbox, 0o700)
	for _, tc := range []struct {
		s    Settings
		want bool
	}{
		{Settings{Transport: TransportFHIR, BaseURL: site.base, SubscriptionKeyFile: key}, true},
		{Settings{Transport: TransportHL7File, InboxDir: inbox}, false},
	} {
		c, err := Open(context.Background(), connectors.Config{Name: "bp", Decode: func(v any) error { *(v.(*Settings)) = tc.s; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.(connectortest.Searcher); ok != tc.want {
			t.Errorf("transport %s: searches %v, want %v", tc.s.Transport, ok, tc.want)
		}
	}
	if c, err := Open(context.Background(), connectors.Config{Decode: func(v any) error { *(v.(*Settings)) = Settings{Transport: "x"}; return nil }}); err == nil || c != nil {
		t.Errorf("bad transport: %v, %v; want a nil connector and an error", c, err)
	}
}
