package noteapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/internal/resttest"
	"github.com/scribegate/scribegate/review"
)

// searcher is a connector's patient search, answering from a list.
type searcher struct {
	got []connectors.PatientQuery
	err error
}

func (s *searcher) SearchPatients(_ context.Context, q connectors.PatientQuery) ([]connectors.PatientMatch, error) {
	s.got = append(s.got, q)
	if s.err != nil {
		return nil, s.err
	}
	return []connectors.PatientMatch{{ID: "p1", Name: "Joan Thompson", BirthDate: "1961-07-30"}}, nil
}

func TestPatientLookup(t *testing.T) {
	s := &searcher{}
	e := newEnv(t, func(o *Options) {
		// c1's connector searches; c2's (athena here) cannot.
		o.ConnectorFor = func(clinic string) any {
			if clinic == "c1" {
				return s
			}
			return nil
		}
	})
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	var out struct {
		Patients []connectors.PatientMatch
	}
	var eb apierror.Body
	if resp := e.do("GET", "/v1/patients?name=thom&birthdate=1961-07-30", clin, nil, &out); resp.StatusCode != http.StatusOK || len(out.Patients) != 1 || out.Patients[0].ID != "p1" {
		t.Fatalf("lookup: %d %+v", resp.StatusCode, out)
	}
	if len(s.got) != 1 || s.got[0] != (connectors.PatientQuery{Name: "thom", BirthDate: "1961-07-30"}) {
		t.Errorf("the connector was asked %+v", s.got)
	}
	for _, tc := range []struct {
		name, path, tok string
		status          int
		code            string
	}{
		{"no terms", "/v1/patients", clin, 400, apierror.CodeInvalidQuery},
		{"bad birth date", "/v1/patients?birthdate=30/07/1961", clin, 400, apierror.CodeInvalidQuery},
		{"reviewer", "/v1/patients?name=x", token(t, "rev", "c1", review.RoleReviewer), 403, apierror.CodeForbidden},
		{"connector cannot search", "/v1/patients?name=x", token(t, "dr-b", "c2", review.RoleClinician), 501, apierror.CodeLookupUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eb = apierror.Body{}
			resttest.WantError(t, e.do("GET", tc.path, tc.tok, nil, &eb), eb, tc.status, tc.code)
		})
	}
	s.err = &connectors.PushError{StatusCode: 503, Message: "down", Err: errors.New("HTTP 503")}
	eb = apierror.Body{}
	resttest.WantError(t, e.do("GET", "/v1/patients?name=x", clin, nil, &eb), eb, http.StatusBadGateway, apierror.CodeEHRUnavailable)
}

// fhirSearcher is a FHIR connector's lookup as bestpractice and gentu
// make it: the real client, identifiers read as Australian ones.
type fhirSearcher struct{ c *fhirclient.Client }

func (s fhirSearcher) SearchPatients(ctx context.Context, q connectors.PatientQuery) ([]connectors.PatientMatch, error) {
	return s.c.SearchPatientsAs(ctx, "", q, auident.PatientSearchParam)
}

// TestPatientLookupFailures: against a FHIR server stand-in, a mistyped
// IHI or Medicare number is 400 invalid_query saying what is wrong (the
// server is not asked), the EHR's refusal is 403 or 422 ehr_refused with
// its reason unless the reason spells the query, and its outage stays
// 502 ehr_unavailable.
func TestPatientLookupFailures(t *testing.T) {
	srv := fhirtest.NewServer(t)
	e := newEnv(t, func(o *Options) {
		o.ConnectorFor = func(string) any { return fhirSearcher{&fhirclient.Client{Base: srv.URL}} }
	})
	clin := token(t, "dr-a", "c1", review.RoleClinician)
	for _, tc := range []struct {
		name, query string
		fault       *fhirtest.Fault
		status      int
		code, param string
		// says is in the message; never is not.
		says, never string
	}{
		{"IHI check digit", "identifier=8003608166690504", nil, 400, apierror.CodeInvalidQuery, "identifier", "IHI check digit is wrong", "8003608166690504"},
		{"Medicare check digit", "identifier=2123456711", nil, 400, apierror.CodeInvalidQuery, "identifier", "Medicare number check digit is wrong", "2123456711"},
		{"Medicare length", "identifier=2123+4567+1", nil, 400, apierror.CodeInvalidQuery, "identifier", "Medicare number (10 digits", "21234567"},
		{"access denied", "name=Thompson", &fhirtest.Fault{Status: http.StatusForbidden, Message: "client lacks scope system/Patient.read"}, 403, apierror.CodeEHRRefused, "", "client lacks scope system/Patient.read", ""},
		{"query rejected", "name=Thompson", &fhirtest.Fault{Status: http.StatusBadRequest, Message: "name searches need two characters"}, 422, apierror.CodeEHRRefused, "", "name searches need two characters", ""},
		{"reason names the patient", "name=Thompson", &fhirtest.Fault{Status: http.StatusUnprocessableEntity, Message: "Patient THOMPSON, Joan is restricted"}, 422, apierror.CodeEHRRefused, "", "the EHR refused the search", "THOMPSON"},
		{"outage", "name=Thompson", &fhirtest.Fault{Status: http.StatusServiceUnavailable, Message: "maintenance"}, 502, apierror.CodeEHRUnavailable, "", "try again", "maintenance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Requests())
			if tc.fault != nil {
				srv.Inject(*tc.fault, 1)
			}
			var eb apierror.Body
			resttest.WantError(t, e.do("GET", "/v1/patients?"+tc.query, clin, nil, &eb), eb, tc.status, tc.code)
			m := eb.Error.Message
			if eb.Error.Param != tc.param || !strings.Contains(m, tc.says) || (tc.never != "" && strings.Contains(m, tc.never)) {
				t.Errorf("param %q, message %q; want param %q, a message saying %q and not %q", eb.Error.Param, m, tc.param, tc.says, tc.never)
			}
			if asked := len(srv.Requests()) > before; asked != (tc.fault != nil) {
				t.Errorf("the EHR was asked: %v", asked)
			}
		})
	}
}
