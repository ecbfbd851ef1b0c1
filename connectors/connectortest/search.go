package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

// Searcher is a connector that finds patients in its EHR for the
// recorder's lookup (the gateway's PatientSearcher).
type Searcher interface {
	SearchPatients(ctx context.Context, q connectors.PatientQuery) ([]connectors.PatientMatch, error)
}

// Patient is a synthetic patient the lookup check asks the EHR to hold.
type Patient struct {
	Given, Family string
	// BirthDate is YYYY-MM-DD.
	BirthDate string
	// Sex is a FHIR administrative gender.
	Sex string
}

// SearchTarget is the EHR stand-in's side of the lookup check.
type SearchTarget interface {
	// AddPatient registers p in the EHR and returns the id a match for p
	// must carry (the one the connector files notes under) and how a
	// clinician names p by identifier in a lookup ("" when the EHR cannot
	// be searched by identifier).
	AddPatient(t testing.TB, p Patient) (id, identifier string)
	// InjectSearch makes the next n patient searches fail with f
	// (Unavailable, Rejected or Stall); false when it cannot (the subtest
	// is skipped).
	InjectSearch(f Fault, n int) bool
}

// SearchHarness tells RunSearch how to test one connector's lookup.
type SearchHarness struct {
	// Setup starts a fresh EHR stand-in and a connector pointed at it,
	// once per subtest.
	Setup func(t *testing.T) (Searcher, SearchTarget)
}

// kitPatients are the patients every lookup check seeds: two Thompsons
// and a namesake-free patient born on Joan's birthday.
var kitPatients = []Patient{
	{Given: "Joan", Family: "Thompson", BirthDate: "1961-07-30", Sex: "female"},
	{Given: "Mark", Family: "Thompson", BirthDate: "1990-01-02", Sex: "male"},
	{Given: "Anh", Family: "Nguyen", BirthDate: "1961-07-30", Sex: "female"},
}

// RunSearch checks the patient lookup every searching connector offers:
// matches by family name, by whole name, by name and birth date, by birth
// date and by identifier, each carrying the id the connector files under
// and the name, birth date and sex the EHR holds; no match is an empty
// list, not an error; an empty query is refused without asking the EHR;
// and the EHR's outage, refusal or silence is an error (never "no such
// patient"; a connectors.SearchRefusedError for the refusal only), after
// which the next search works.
func RunSearch(t *testing.T, h SearchHarness) {
	t.Helper()
	seed := func(t *testing.T) (Searcher, SearchTarget, []string, []string) {
		s, tg := h.Setup(t)
		var ids, idents []string
		for _, p := range kitPatients {
			id, ident := tg.AddPatient(t, p)
			ids, idents = append(ids, id), append(idents, ident)
		}
		return s, tg, ids, idents
	}
	t.Run("matches", func(t *testing.T) {
		s, _, ids, idents := seed(t)
		cases := []struct {
			q    connectors.PatientQuery
			want []int // indexes into kitPatients
		}{
			{connectors.PatientQuery{Name: "Thompson"}, []int{0, 1}},
			{connectors.PatientQuery{Name: "Joan Thompson"}, []int{0}},
			{connectors.PatientQuery{Name: "Thompson", BirthDate: "1990-01-02"}, []int{1}},
			{connectors.PatientQuery{BirthDate: "1961-07-30"}, []int{0, 2}},
			{connectors.PatientQuery{Name: "Nguyen", BirthDate: "1990-01-02"}, nil},
		}
		if idents[1] != "" {
			cases = append(cases, struct {
				q    connectors.PatientQuery
				want []int
			}{connectors.PatientQuery{Identifier: idents[1]}, []int{1}})
		}
		for _, tc := range cases {
			got, err := s.SearchPatients(context.Background(), tc.q)
			if err != nil {
				t.Errorf("%+v: %v", tc.q, err)
				continue
			}
			checkMatches(t, tc.q, got, ids, tc.want)
		}
	})
	t.Run("no match", func(t *testing.T) {
		s, _, _, _ := seed(t)
		got, err := s.SearchPatients(context.Background(), connectors.PatientQuery{Name: "Zzyzx"})
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("a name no patient has: %v, %v; want an empty list and no error", got, err)
		}
	})
	t.Run("empty query", func(t *testing.T) {
		s, _ := h.Setup(t)
		if got, err := s.SearchPatients(context.Background(), connectors.PatientQuery{}); err == nil {
			t.Errorf("an empty query answered %v, want an error", got)
		}
	})
	for _, f := range []Fault{Unavailable, Rejected, Stall} {
		t.Run("EHR "+f.String(), func(t *testing.T) {
			s, tg, _, _ := seed(t)
			if !tg.InjectSearch(f, 1) {
				t.Skipf("the target cannot make a search fail with %s", f)
			}
			// A stall ends with the caller's deadline (the gateway gives
			// a lookup one); a connector's own timeout may end it first.
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			q := connectors.PatientQuery{Name: "Thompson"}
			got, err := s.SearchPatients(ctx, q)
			if err == nil {
				t.Fatalf("the EHR failed (%s) and the search answered %v without an error", f, got)
			}
			var re *connectors.SearchRefusedError
			if refused := errors.As(err, &re); refused != (f == Rejected) {
				t.Errorf("the EHR failed (%s): %v; a SearchRefusedError is for a refusal and only for one", f, err)
			}
			if got, err := s.SearchPatients(context.Background(), q); err != nil || len(got) != 2 {
				t.Errorf("the search after the failure: %v, %v; want both Thompsons", got, err)
			}
		})
	}
}

// checkMatches holds a lookup's answer to the seeded patients want.
func checkMatches(t *testing.T, q connectors.PatientQuery, got []connectors.PatientMatch, ids []string, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%+v: %d matches %+v, want %d", q, len(got), got, len(want))
		return
	}
	for _, i := range want {
		p := kitPatients[i]
		k := slices.IndexFunc(got, func(m connectors.PatientMatch) bool { return m.ID == ids[i] })
		if k < 0 {
			t.Errorf("%+v: %+v does not include %s %s (id %q)", q, got, p.Given, p.Family, ids[i])
			continue
		}
		m := got[k]
		if !strings.Contains(m.Name, p.Given) || !strings.Contains(m.Name, p.Family) || m.BirthDate != p.BirthDate || m.Sex != p.Sex {
			t.Errorf("%+v: match %+v, want %s %s born %s, %s, as the EHR holds them", q, m, p.Given, p.Family, p.BirthDate, p.Sex)
		}
	}
}

// FHIRSearchTarget is the SearchTarget for connectors that search a FHIR
// server's Patients, stood in for by a fhirtest.Server.
type FHIRSearchTarget struct {
	Server *fhirtest.Server
	// System is the identifier system patients are registered with;
	// empty means "urn:scribegate:test:mrn".
	System string
	// Values are the identifier values of the patients in the order they
	// are added; nil means MRN-1, MRN-2, …
	Values []string
	// ByIdentifier says the connector files notes by the identifier in
	// System (its patient_system), so a match's id is that value rather
	// than the Patient's id.
	ByIdentifier bool
	// Lookup is how a clinician names a patient by identifier; nil means
	// "system|value".
	Lookup func(system, value string) string
}

// AddPatient stores p as a FHIR Patient with an identifier in System.
func (f *FHIRSearchTarget) AddPatient(t testing.TB, p Patient) (id, identifier string) {
	t.Helper()
	n := len(f.Server.Resources("Patient"))
	system, value := f.System, fmt.Sprintf("MRN-%d", n+1)
	if system == "" {
		system = "urn:scribegate:test:mrn"
	}
	if n < len(f.Values) {
		value = f.Values[n]
	}
	b, _ := json.Marshal(map[string]any{
		"resourceType": "Patient",
		"identifier":   []map[string]string{{"system": system, "value": value}},
		"name":         []map[string]any{{"use": "official", "family": p.Family, "given": []string{p.Given}}},
		"birthDate":    p.BirthDate,
		"gender":       p.Sex,
	})
	id, err := f.Server.Seed(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.ByIdentifier {
		id = value
	}
	identifier = system + "|" + value
	if f.Lookup != nil {
		identifier = f.Lookup(system, value)
	}
	return id, identifier
}

// InjectSearch fails the next n Patient searches.
func (f *FHIRSearchTarget) InjectSearch(fault Fault, n int) bool {
	ff := fhirtest.Fault{Method: http.MethodGet, ResourceType: "Patient"}
	switch fault {
	case Unavailable:
		ff.Status = http.StatusServiceUnavailable
	case Rejected:
		ff.Status, ff.Message = http.StatusForbidden, "not authorised to search patients"
	case Stall:
		ff.Delay = time.Minute
	default:
		return false
	}
	f.Server.Inject(ff, n)
	return true
}

// AUFHIRSearchTarget is the FHIRSearchTarget of an Australian practice
// system's FHIR API: patients carry valid IHIs (AU Base system), and a
// clinician looks them up as "ihi:…".
func AUFHIRSearchTarget(srv *fhirtest.Server) *FHIRSearchTarget {
	return &FHIRSearchTarget{
		Server: srv, System: auident.SystemIHI,
		Values: []string{"8003608166690503", "8003609000000016", "8003609000000024"},
		Lookup: func(_, v string) string { return "ihi:" + v },
	}
}

// UseMatch makes d the note of the patient a lookup found, as the
// recorder does once the clinician confirms them: the match's id and the
// name, birth date and sex the EHR holds. The id must be one the connector
// files under (v's ValidatePatientID).
func UseMatch(t testing.TB, v interface{ ValidatePatientID(string) error }, d *connectors.Document, m connectors.PatientMatch) {
	t.Helper()
	if err := v.ValidatePatientID(m.ID); err != nil {
		t.Fatalf("the match's id is not one the connector files under: %v", err)
	}
	d.Patient, d.PatientName, d.PatientBirthDate, d.PatientSex = m.ID, m.Name, m.BirthDate, m.Sex
}

// CheckRefusal holds a failed search's err to a
// connectors.SearchRefusedError with the EHR's status and the reason the
// clinician is shown, or, with status 0, to an error that is not one (an
// outage, which the gateway asks the clinician to retry).
func CheckRefusal(t testing.TB, err error, status int, reason string) {
	t.Helper()
	if err == nil {
		t.Fatal("the search failed and answered no error")
	}
	var re *connectors.SearchRefusedError
	switch {
	case !errors.As(err, &re):
		if status != 0 {
			t.Errorf("%v: not a SearchRefusedError", err)
		}
	case status == 0:
		t.Errorf("an outage reads as a refusal: %v", err)
	case re.StatusCode != status || re.Reason != reason:
		t.Errorf("refusal HTTP %d, reason %q; want %d, %q", re.StatusCode, re.Reason, status, reason)
	}
}

// CheckQueryError holds a search's err to a connectors.QueryError on the
// identifier whose message says problem: the clinician is told what is
// wrong with what they typed, not shown "no match".
func CheckQueryError(t testing.TB, err error, problem string) {
	t.Helper()
	var qe *connectors.QueryError
	if !errors.As(err, &qe) || qe.Param != "identifier" || !strings.Contains(err.Error(), problem) {
		t.Errorf("%v; want a QueryError on identifier saying %q", err, problem)
	}
}
