package fhir

import (
	"context"
	"fmt"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

func TestSearchPatients(t *testing.T) {
	srv := fhirtest.NewServer(t)
	// Seed gives each its own id, 1, 2, 3, as a create would.
	for _, p := range []string{
		`{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.36.146.595.217.0.1","value":"MRN-1001"}],"name":[{"use":"official","family":"Thompson","given":["Joan"]}],"birthDate":"1961-07-30","gender":"female"}`,
		`{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.36.146.595.217.0.1","value":"MRN-1002"}],"name":[{"family":"Thompson","given":["Mark"]}],"birthDate":"1990-01-02","gender":"male"}`,
		`{"resourceType":"Patient","name":[{"family":"Nguyen","given":["Anh"]}],"birthDate":"1961-07-30"}`,
	} {
		if _, err := srv.Seed([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(ms []connectors.PatientMatch) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID+":"+m.Name+":"+m.BirthDate)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		system string
		q      connectors.PatientQuery
		want   string
	}{
		{"", connectors.PatientQuery{Name: "thom"}, "[1:Joan Thompson:1961-07-30 2:Mark Thompson:1990-01-02]"},
		{"", connectors.PatientQuery{Name: "Thompson", BirthDate: "1961-07-30"}, "[1:Joan Thompson:1961-07-30]"},
		{"", connectors.PatientQuery{BirthDate: "1961-07-30"}, "[1:Joan Thompson:1961-07-30 3:Anh Nguyen:1961-07-30]"},
		{"", connectors.PatientQuery{Identifier: "MRN-1002"}, "[2:Mark Thompson:1990-01-02]"},
		{"", connectors.PatientQuery{Name: "Smith"}, "[]"},
		// Notes filed by identifier: the match is known by it, and a
		// patient without one cannot be chosen.
		{"urn:oid:1.2.36.146.595.217.0.1", connectors.PatientQuery{BirthDate: "1961-07-30"}, "[MRN-1001:Joan Thompson:1961-07-30]"},
	} {
		c, err := New(Settings{BaseURL: srv.URL, PatientSystem: tc.system}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.SearchPatients(context.Background(), tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		if ids(got) != tc.want {
			t.Errorf("%+v (system %q): %s, want %s", tc.q, tc.system, ids(got), tc.want)
		}
	}
	c, _ := New(Settings{BaseURL: srv.URL}, nil, nil)
	if _, err := c.SearchPatients(context.Background(), connectors.PatientQuery{}); err == nil {
		t.Error("an empty query was sent")
	}
}
