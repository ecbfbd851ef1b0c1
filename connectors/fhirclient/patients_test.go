package fhirclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

// TestSearchPatientsFailures: a FHIR server refusing a lookup (403, a 401
// that a fresh token does not cure, a 400 or 422 OperationOutcome about
// the query) is a connectors.SearchRefusedError with the server's
// diagnostics, left out when they spell a value of the query; an outage
// or silence is not; a mistyped IHI or Medicare number is a
// connectors.QueryError and never reaches the server.
func TestSearchPatientsFailures(t *testing.T) {
	thompson := connectors.PatientQuery{Name: "Thompson"}
	for _, tc := range []struct {
		name  string
		fault fhirtest.Fault
		q     connectors.PatientQuery
		// refused is the SearchRefusedError's status; 0 for an outage.
		refused int
		reason  string
	}{
		{"forbidden", fhirtest.Fault{Status: http.StatusForbidden, Message: "client lacks scope system/Patient.read"}, thompson,
			http.StatusForbidden, "client lacks scope system/Patient.read"},
		{"query rejected", fhirtest.Fault{Status: http.StatusBadRequest, Message: "name searches need at least two characters"}, thompson,
			http.StatusBadRequest, "name searches need at least two characters"},
		{"reason names the patient", fhirtest.Fault{Status: http.StatusUnprocessableEntity, Message: "Patient THOMPSON, Joan is restricted"}, thompson,
			http.StatusUnprocessableEntity, ""},
		{"reason names the identifier", fhirtest.Fault{Status: http.StatusForbidden, Message: "no access to MRN-7"}, connectors.PatientQuery{Identifier: "MRN-7"},
			http.StatusForbidden, ""},
		{"unavailable", fhirtest.Fault{Status: http.StatusServiceUnavailable}, thompson, 0, ""},
		{"rate limited", fhirtest.Fault{Status: http.StatusTooManyRequests}, thompson, 0, ""},
		{"stalled", fhirtest.Fault{Delay: time.Minute}, thompson, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fhirtest.NewServer(t)
			srv.Inject(tc.fault, 1)
			c := &fhirclient.Client{Base: srv.URL, Timeout: 300 * time.Millisecond}
			_, err := c.SearchPatients(t.Context(), "", tc.q)
			connectortest.CheckRefusal(t, err, tc.refused, tc.reason)
		})
	}

	t.Run("unauthorized after a fresh token", func(t *testing.T) {
		srv := fhirtest.NewServer(t)
		srv.SetAuth(func(*http.Request) error { return errors.New("token not valid for this tenant") })
		fetched := 0
		c := &fhirclient.Client{Base: srv.URL, Auth: fhirclient.CachedToken(func(context.Context) (string, time.Duration, error) {
			fetched++
			return "t", time.Hour, nil
		})}
		_, err := c.SearchPatients(t.Context(), "", thompson)
		connectortest.CheckRefusal(t, err, http.StatusUnauthorized, "token not valid for this tenant")
		if fetched != 2 {
			t.Errorf("%d tokens fetched, want 2 (the refresh after the first 401)", fetched)
		}
	})

	t.Run("parameter the server does not support", func(t *testing.T) {
		srv := fhirtest.NewServer(t)
		strict := fhirtest.StrictPatientSearch(srv, "_count", "name") // no birthdate
		ts := httptest.NewServer(strict)
		t.Cleanup(ts.Close)
		c := &fhirclient.Client{Base: ts.URL}
		_, err := c.SearchPatients(t.Context(), "", connectors.PatientQuery{Name: "Thompson", BirthDate: "1961-07-30"})
		connectortest.CheckRefusal(t, err, http.StatusBadRequest, "unknown or unsupported search parameter birthdate")
	})

	t.Run("mistyped identifier", func(t *testing.T) {
		srv := fhirtest.NewServer(t)
		c := &fhirclient.Client{Base: srv.URL}
		for ident, problem := range map[string]string{
			"8003608166690504": "IHI check digit is wrong",
			"2123456711":       "Medicare number check digit is wrong",
			"2123 4567 1":      "not an IHI (16 digits) or a Medicare number",
		} {
			_, err := c.SearchPatientsAs(t.Context(), "", connectors.PatientQuery{Identifier: ident}, auident.PatientSearchParam)
			connectortest.CheckQueryError(t, err, problem)
		}
		if n := len(srv.Requests()); n != 0 {
			t.Errorf("%d requests reached the server for mistyped identifiers", n)
		}
	})
}
