package connectors

import (
	"errors"
	"testing"
)

// TestSearchFailure: only a permanent 4xx the EHR answered is a refusal,
// and its reason is kept only when it spells none of the query's values
// (a name word in any case, the identifier, the birth date as ISO, US or
// Australian EHRs write it).
func TestSearchFailure(t *testing.T) {
	q := PatientQuery{Name: "joan Thompson", BirthDate: "1961-07-30", Identifier: "MRN-7"}
	for _, tc := range []struct {
		name   string
		err    error
		status int // of the SearchRefusedError; 0: err comes back as it was
		reason string
	}{
		{"forbidden", &PushError{Permanent: true, StatusCode: 403, Message: "no access"}, 403, "no access"},
		{"query rejected", &PushError{Permanent: true, StatusCode: 400, Message: "bad name parameter"}, 400, "bad name parameter"},
		{"names the patient", &PushError{Permanent: true, StatusCode: 403, Message: "THOMPSON, JOAN is restricted"}, 403, ""},
		{"names the identifier", &PushError{Permanent: true, StatusCode: 422, Message: "MRN-7 is merged"}, 422, ""},
		{"US birth date", &PushError{Permanent: true, StatusCode: 403, Message: "patient born 07/30/1961 is restricted"}, 403, ""},
		{"AU birth date", &PushError{Permanent: true, StatusCode: 403, Message: "patient born 30/07/1961 is restricted"}, 403, ""},
		{"outage", &PushError{StatusCode: 503, Message: "down"}, 0, ""},
		{"rate limited", &PushError{StatusCode: 429, Message: "slow down"}, 0, ""},
		{"permanent 5xx", &PushError{Permanent: true, StatusCode: 501, Message: "no search"}, 0, ""},
		{"network", &PushError{Message: "did not answer"}, 0, ""},
		{"not a PushError", errors.New("decode"), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := SearchFailure(tc.err, q)
			var re *SearchRefusedError
			if !errors.As(err, &re) {
				if tc.status != 0 || err != tc.err {
					t.Errorf("SearchFailure(%v) = %v; want a refusal %d", tc.err, err, tc.status)
				}
				return
			}
			if re.StatusCode != tc.status || re.Reason != tc.reason || !errors.Is(err, tc.err) {
				t.Errorf("SearchFailure(%v) = HTTP %d, reason %q; want %d, %q, wrapping the cause", tc.err, re.StatusCode, re.Reason, tc.status, tc.reason)
			}
			if re.Denied() != (tc.status == 403 || tc.status == 401) {
				t.Errorf("Denied() = %v for HTTP %d", re.Denied(), re.StatusCode)
			}
		})
	}
}
