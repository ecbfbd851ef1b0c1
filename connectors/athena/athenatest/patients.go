package athenatest

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Patient is a patient's record as athenaOne's v1 API returns it.
type Patient struct {
	FirstName  string
	MiddleName string
	LastName   string
	// DOB is athena's mm/dd/yyyy.
	DOB string
	// Sex is athena's M or F.
	Sex string
	// DepartmentID is the registration department; empty means the
	// practice's first.
	DepartmentID string
}

// AddPatient registers a patient in the practice, as the practice's front
// desk would, and returns the patient id athena gives them.
func (s *Server) AddPatient(p Patient) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.DepartmentID == "" {
		p.DepartmentID = s.Departments[0]
	}
	if s.charts == nil {
		s.charts = map[string]Patient{}
	}
	id := strconv.Itoa(70000 + len(s.charts) + 1)
	s.charts[id] = p
	s.Patients = append(s.Patients, id)
	return id
}

var patientPath = regexp.MustCompile(`^/v1/([^/]+)/patients(?:/([^/]+))?$`)

// searchCriteria are the fields GET /patients needs at least one of, as
// athena lists them when none is given (its reply quoted in
// github.com/athenahealth/apiserver-athenaFlex issue 292).
var searchCriteria = []string{
	"anyphone", "departmentid", "dob", "firstname", "guarantorfirstname",
	"guarantorlastname", "guarantormiddlename", "guarantorsuffix", "homephone",
	"lastname", "middlename", "mobilephone", "suffix", "workphone",
}

// searchOptions are the documented non-criteria parameters of GET
// /patients the stand-in accepts; anything else is refused, so that a
// misspelt parameter fails the test instead of widening the search.
var searchOptions = []string{"limit", "offset", "sex", "show2015edcehrtvalues", "omitdefaultpharmacy"}

// patients answers "Get list of patients" (GET /v1/{practiceid}/patients:
// firstname, lastname, middlename and dob matched whole and
// case-insensitively, departmentid the registration department) and "Get
// specific patient record" (GET /v1/{practiceid}/patients/{patientid}, a
// one-element array).
func (s *Server) patients(w http.ResponseWriter, r *http.Request, practice, id string) {
	if practice != s.PracticeID {
		writeError(w, http.StatusNotFound, "Invalid practice.", "The practice ID does not exist.")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed.", "")
		return
	}
	s.mu.Lock()
	charts := make(map[string]Patient, len(s.charts))
	for k, v := range s.charts {
		charts[k] = v
	}
	s.mu.Unlock()
	if id != "" {
		p, ok := charts[id]
		if !ok || !numRE.MatchString(id) {
			writeError(w, http.StatusNotFound, "The patient is not valid.", "No patient with id "+id)
			return
		}
		writeJSON(w, http.StatusOK, []map[string]any{p.record(id)})
		return
	}
	q := r.URL.Query()
	given := false
	for k, v := range q {
		switch {
		case slices.Contains(searchCriteria, k):
			given = given || v[0] != ""
		case slices.Contains(searchOptions, k):
		default:
			writeError(w, http.StatusBadRequest, "Invalid parameter: "+k+".", "")
			return
		}
		if len(v) != 1 {
			writeError(w, http.StatusBadRequest, "Parameter "+k+" given more than once.", "")
			return
		}
	}
	if !given {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":  "At least one of the following fields is required.",
			"fields": searchCriteria,
		})
		return
	}
	if dob := q.Get("dob"); dob != "" && !dateRE.MatchString(dob) {
		writeError(w, http.StatusBadRequest, "Invalid DOB; expected mm/dd/yyyy.", "")
		return
	}
	if d := q.Get("departmentid"); d != "" && !slices.Contains(s.Departments, d) {
		writeError(w, http.StatusBadRequest, "Invalid department ID.", "")
		return
	}
	limit := 1500 // athena's default; at most 5000
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 5000 {
			writeError(w, http.StatusBadRequest, "Invalid limit; at most 5000.", "")
			return
		}
		limit = n
	}
	ids := make([]string, 0, len(charts))
	for k := range charts {
		ids = append(ids, k)
	}
	slices.Sort(ids)
	same := func(field, want string) bool { return want == "" || strings.EqualFold(field, want) }
	out := []map[string]any{}
	total := 0
	for _, id := range ids {
		p := charts[id]
		if !same(p.FirstName, q.Get("firstname")) || !same(p.LastName, q.Get("lastname")) ||
			!same(p.MiddleName, q.Get("middlename")) || !same(p.DOB, q.Get("dob")) ||
			!same(p.DepartmentID, q.Get("departmentid")) || !same(p.Sex, q.Get("sex")) {
			continue
		}
		total++
		if len(out) < limit {
			out = append(out, p.record(id))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"patients": out, "totalcount": total})
}

// record is p as the API shows it (ids as strings, as athena sends them).
func (p Patient) record(id string) map[string]any {
	rec := map[string]any{
		"patientid": id, "firstname": p.FirstName, "lastname": p.LastName,
		"dob": p.DOB, "sex": p.Sex, "departmentid": p.DepartmentID, "status": "active",
	}
	if p.MiddleName != "" {
		rec["middlename"] = p.MiddleName
	}
	return rec
}
