package noteapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
)

// PatientSearcher is a connector that can find patients in its EHR, for
// the recorder's lookup when no EHR launch named the patient.
type PatientSearcher interface {
	SearchPatients(ctx context.Context, q connectors.PatientQuery) ([]connectors.PatientMatch, error)
}

// searchPatients answers GET /v1/patients?name=&birthdate=&identifier=:
// the patients of the caller's clinic's EHR that match, as the EHR holds
// them, for the clinician to pick and confirm before recording. Only
// clinicians look patients up (Register).
func (api *API) searchPatients(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	q := r.URL.Query()
	pq := connectors.PatientQuery{Name: q.Get("name"), BirthDate: q.Get("birthdate"), Identifier: q.Get("identifier")}
	if pq.BirthDate != "" {
		if _, err := time.Parse(time.DateOnly, pq.BirthDate); err != nil {
			return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidQuery, Param: "birthdate", Message: "birthdate must be YYYY-MM-DD"}
		}
	}
	if pq == (connectors.PatientQuery{}) || len(pq.Name)+len(pq.Identifier) > 200 {
		return apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidQuery, "give a name, birthdate or identifier (at most 200 bytes)")
	}
	var searcher PatientSearcher
	if api.opts.ConnectorFor != nil {
		searcher, _ = api.opts.ConnectorFor(c.Clinic).(PatientSearcher)
	}
	if searcher == nil {
		return apierror.Errorf(http.StatusNotImplemented, apierror.CodeLookupUnavailable, "your clinic's EHR connector cannot search for patients; enter the patient id")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	found, err := searcher.SearchPatients(ctx, pq)
	if err != nil {
		return api.searchError(c.Clinic, err)
	}
	if found == nil {
		found = []connectors.PatientMatch{}
	}
	apierror.WriteJSON(w, http.StatusOK, map[string]any{"patients": found})
	return nil
}

// searchError is the answer to a failed lookup: a value of the query that
// cannot name a patient is the clinician's to fix (400 invalid_query), a
// refusal by the EHR is told with its reason (403 or 422 ehr_refused:
// asking again will not help), and anything else is an outage to retry
// (502 ehr_unavailable).
func (api *API) searchError(clinic string, err error) *apierror.Error {
	var qe *connectors.QueryError
	if errors.As(err, &qe) {
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidQuery, Param: qe.Param, Message: qe.Err.Error()}
	}
	// connectors.PushError logs the EHR's status and cause, never its
	// words, which may name patients.
	api.log.Warn("patient lookup failed", "clinic", clinic, "err", err)
	var re *connectors.SearchRefusedError
	if !errors.As(err, &re) {
		return apierror.Errorf(http.StatusBadGateway, apierror.CodeEHRUnavailable, "the EHR did not answer the search; try again")
	}
	status, msg := http.StatusUnprocessableEntity, "the EHR refused the search"
	if re.Denied() {
		status, msg = http.StatusForbidden, "the EHR refused the gateway access to search its patients"
	}
	if re.Reason != "" {
		msg += ": " + re.Reason
	}
	return apierror.Errorf(status, apierror.CodeEHRRefused, "%s", msg)
}
