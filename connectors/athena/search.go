package athena

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scribegate/scribegate/connectors"
)

// maxMatches bounds a lookup's answer: a clinician picks from a screen,
// and a wider search is refined rather than paged.
const maxMatches = 20

// athenaDate is the v1 API's date format (dob is "mm/dd/yyyy").
const athenaDate = "01/02/2006"

// SearchPatients finds patients of the practice for the recorder's lookup,
// as athenaOne knows them: the match's id is the athena patient id notes
// are filed under, with the name, birth date and sex athena holds.
//
// It uses the v1 API's patient search, GET /v1/{practiceid}/patients
// (firstname, lastname, dob as mm/dd/yyyy, departmentid), scoped to the
// practice by the path and to the connector's department by departmentid
// (the patient's registration department), first page only (limit). A name
// of one word is searched as a last name, then as a first name; of several,
// first word as first name and last word as last name, then the other way
// round. athena does not document partial matching on these fields, so
// whole names are sent, and every word must then begin a part of the
// patient's name (the PatientQuery contract). An identifier is an athena
// patient id, read with GET /v1/{practiceid}/patients/{patientid}; athena
// has no other identifier to search by, so anything else is refused with a
// connectors.QueryError saying why. athena refusing the search (a 403 "no
// access") is a connectors.SearchRefusedError.
func (c *Connector) SearchPatients(ctx context.Context, q connectors.PatientQuery) ([]connectors.PatientMatch, error) {
	if q == (connectors.PatientQuery{}) {
		return nil, errors.New("athena: patient search needs a name, birth date or identifier")
	}
	dob := ""
	if q.BirthDate != "" {
		t, err := time.Parse(time.DateOnly, q.BirthDate)
		if err != nil {
			return nil, errors.New("athena: patient search: birth date must be YYYY-MM-DD")
		}
		dob = t.Format(athenaDate)
	}
	var found []athenaPatient
	if q.Identifier != "" {
		id := q.Identifier
		if err := checkPatientID(id); err != nil {
			return nil, &connectors.QueryError{Param: "identifier", Err: err}
		}
		p, err := c.readPatient(ctx, id)
		if err != nil {
			return nil, connectors.SearchFailure(err, q)
		}
		found = p
	} else {
		for _, v := range nameQueries(strings.Fields(q.Name)) {
			v.Set("departmentid", c.department)
			v.Set("limit", strconv.Itoa(maxMatches))
			if dob != "" {
				v.Set("dob", dob)
			}
			ps, err := c.listPatients(ctx, v)
			if err != nil {
				return nil, connectors.SearchFailure(err, q)
			}
			found = append(found, ps...)
		}
	}
	out := []connectors.PatientMatch{}
	seen := map[string]bool{}
	for _, p := range found {
		id := p.PatientID.String()
		if seen[id] || !p.matches(q.Name, dob) {
			continue
		}
		seen[id] = true
		out = append(out, p.match())
		if len(out) == maxMatches {
			break
		}
	}
	return out, nil
}

// nameQueries are the searches for a name's words: none (birth date
// only), one word as last then first name, several as first … last and
// the other way round.
func nameQueries(words []string) []url.Values {
	switch len(words) {
	case 0:
		return []url.Values{{}}
	case 1:
		return []url.Values{{"lastname": {words[0]}}, {"firstname": {words[0]}}}
	}
	first, last := words[0], words[len(words)-1]
	return []url.Values{
		{"firstname": {first}, "lastname": {last}},
		{"firstname": {last}, "lastname": {first}},
	}
}

// listPatients sends one patient search and decodes its page.
func (c *Connector) listPatients(ctx context.Context, v url.Values) ([]athenaPatient, error) {
	resp, body, err := c.do(ctx, http.MethodGet, "/v1/"+c.practice+"/patients?"+v.Encode(), nil, "the patient search")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, classify(resp, body, c.now())
	}
	return decodePatients(body)
}

// readPatient reads one patient by id; an unknown id is no match.
func (c *Connector) readPatient(ctx context.Context, id string) ([]athenaPatient, error) {
	resp, body, err := c.do(ctx, http.MethodGet, "/v1/"+c.practice+"/patients/"+id, nil, "the patient search")
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return decodePatients(body)
	case http.StatusNotFound:
		return nil, nil
	}
	return nil, classify(resp, body, c.now())
}

// athenaPatient is the part of athena's patient record a lookup shows.
type athenaPatient struct {
	PatientID  json.Number `json:"patientid"`
	FirstName  string      `json:"firstname"`
	MiddleName string      `json:"middlename"`
	LastName   string      `json:"lastname"`
	DOB        string      `json:"dob"`
	Sex        string      `json:"sex"`
}

// decodePatients reads a patient list: {"patients": [...], "totalcount":
// …} from the search, a bare array from the read by id.
func decodePatients(body []byte) ([]athenaPatient, error) {
	var arr []athenaPatient
	if err := json.Unmarshal(body, &arr); err == nil {
		return arr, nil
	}
	var obj struct {
		Patients []athenaPatient `json:"patients"`
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, &connectors.PushError{Message: "athenahealth patient list unreadable", Err: fmt.Errorf("athena: %w", err)}
	}
	return obj.Patients, nil
}

// matches holds the patient to the query whatever athena matched on:
// every word of name begins a part of the patient's name, and the birth
// date (athena's format) is theirs.
func (p athenaPatient) matches(name, dob string) bool {
	if p.PatientID == "" || (dob != "" && p.DOB != dob) {
		return false
	}
	parts := strings.Fields(strings.ToLower(p.FirstName + " " + p.MiddleName + " " + p.LastName))
	for _, w := range strings.Fields(strings.ToLower(name)) {
		if !slices.ContainsFunc(parts, func(part string) bool { return strings.HasPrefix(part, w) }) {
			return false
		}
	}
	return true
}

// match is p as the lookup shows it: the birth date as YYYY-MM-DD and the
// sex as a FHIR administrative gender.
func (p athenaPatient) match() connectors.PatientMatch {
	m := connectors.PatientMatch{
		ID:   p.PatientID.String(),
		Name: strings.Join(strings.Fields(p.FirstName+" "+p.MiddleName+" "+p.LastName), " "),
	}
	if t, err := time.Parse(athenaDate, p.DOB); err == nil {
		m.BirthDate = t.Format(time.DateOnly)
	}
	switch strings.ToUpper(p.Sex) {
	case "":
	case "M":
		m.Sex = "male"
	case "F":
		m.Sex = "female"
	default:
		m.Sex = "unknown"
	}
	return m
}
