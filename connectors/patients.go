package connectors

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// PatientQuery is a clinician's lookup of a patient in the EHR, when no
// launch named one: any of name (a prefix of a given or family name, or
// several words each matching one), birth date (YYYY-MM-DD) and an
// identifier (an MRN, or system|value). At least one is set.
type PatientQuery struct {
	Name       string
	BirthDate  string
	Identifier string
}

// PatientMatch is a patient as the EHR holds them: the id the connector
// files notes under, and what the clinician confirms them by.
type PatientMatch struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	BirthDate string `json:"birth_date,omitempty"`
	Sex       string `json:"sex,omitempty"`
	// Identifiers are the patient's other identifiers (MRNs), as
	// "value" or "system|value", to tell namesakes apart.
	Identifiers []string `json:"identifiers,omitempty"`
}

// QueryError is a lookup refused before the EHR was asked, because a
// value of the query cannot name a patient there (an IHI or Medicare
// number with a wrong check digit or length, an athena id with letters):
// the clinician mistyped it, and "no match" would hide that. Message says
// what is wrong with the value, never the value itself.
type QueryError struct {
	// Param is the query's field at fault ("identifier").
	Param string
	Err   error
}

func (e *QueryError) Error() string { return e.Param + ": " + e.Err.Error() }

func (e *QueryError) Unwrap() error { return e.Err }

// SearchRefusedError is a lookup the EHR answered with a refusal rather
// than an outage: it denied access (HTTP 401 or 403 after a fresh token,
// athena's "no access") or rejected the query (400, 422, an
// OperationOutcome). Asking again will not help, so the gateway tells the
// clinician the EHR's reason instead of "try again".
type SearchRefusedError struct {
	// StatusCode is the EHR's HTTP status.
	StatusCode int
	// Reason is the EHR's explanation when it names no patient (it
	// contains none of the query's values); empty otherwise.
	Reason string
	Err    error
}

// Denied reports whether the EHR refused access (401, 403) rather than
// the query.
func (e *SearchRefusedError) Denied() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
}

func (e *SearchRefusedError) Error() string {
	return fmt.Sprintf("connectors: the EHR refused the patient search (HTTP %d): %v", e.StatusCode, e.Err)
}

func (e *SearchRefusedError) Unwrap() error { return e.Err }

// SearchFailure classifies a failed lookup of q: a permanent refusal the
// EHR answered (a PushError with a 4xx status) becomes a
// SearchRefusedError carrying the EHR's words unless they mention one of
// q's values (and so may name the patient); anything else (an outage, a
// timeout, a rate limit) is returned as it is.
func SearchFailure(err error, q PatientQuery) error {
	var pe *PushError
	if !errors.As(err, &pe) || !pe.Permanent || pe.StatusCode < 400 || pe.StatusCode > 499 {
		return err
	}
	reason := pe.Message
	lower := strings.ToLower(reason)
	values := append(strings.Fields(q.Name), q.Identifier, q.BirthDate)
	if t, err := time.Parse(time.DateOnly, q.BirthDate); err == nil {
		// as US (athena) and Australian EHRs write it
		values = append(values, t.Format("01/02/2006"), t.Format("02/01/2006"))
	}
	for _, v := range values {
		if v != "" && strings.Contains(lower, strings.ToLower(v)) {
			reason = ""
		}
	}
	return &SearchRefusedError{StatusCode: pe.StatusCode, Reason: reason, Err: err}
}
