package noteapi

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/scribegate/scribegate/connectors"
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
