package fhirclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

// maxMatches bounds a lookup's answer: a clinician picks from a screen,
// not a register, and a wider search is refined rather than paged.
const maxMatches = 20

// SearchPatients finds patients by name, birth date and identifier
// (Patient?name=&birthdate=&identifier=, ANDed, a name= for each word of
// the name), first page only, for a
// connector's patient lookup. With a patientSystem (a connector filing
// notes by identifier), a match's id is its identifier in that system,
// and patients without one are left out.
func (c *Client) SearchPatients(ctx context.Context, patientSystem string, q connectors.PatientQuery) ([]connectors.PatientMatch, error) {
	return c.SearchPatientsAs(ctx, patientSystem, q, nil)
}

// IdentifierParam says how a lookup's identifier is searched on a server:
// the search parameter and value (identifier=system|value, or _id for the
// server's own id), or an error saying why it cannot name a patient there
// (a mistyped number): the search is then refused with a
// connectors.QueryError without asking the server.
type IdentifierParam func(identifier string) (param, value string, err error)

// SearchPatientsAs is SearchPatients with the identifier searched as
// ident says (nil: as given, identifier=…).
func (c *Client) SearchPatientsAs(ctx context.Context, patientSystem string, q connectors.PatientQuery, ident IdentifierParam) ([]connectors.PatientMatch, error) {
	v := url.Values{"_count": {fmt.Sprint(maxMatches)}}
	// Each word of the name is its own name parameter: repeated
	// parameters are ANDed, so "Joan Thompson" finds the patient whose
	// names begin with both, where one parameter would look for a name
	// part beginning "Joan Thompson".
	for _, w := range strings.Fields(q.Name) {
		v.Add("name", w)
	}
	if q.BirthDate != "" {
		v.Set("birthdate", q.BirthDate)
	}
	if q.Identifier != "" {
		param, value := "identifier", q.Identifier
		if ident != nil {
			var err error
			if param, value, err = ident(q.Identifier); err != nil {
				return nil, &connectors.QueryError{Param: "identifier", Err: err}
			}
		}
		v.Set(param, value)
	}
	if len(v) == 1 {
		return nil, fmt.Errorf("fhirclient: patient search needs a name, birth date or identifier")
	}
	resp, err := c.Do(ctx, http.MethodGet, "Patient", v, nil, nil)
	if err != nil {
		return nil, connectors.SearchFailure(err, q)
	}
	b, err := fhirdoc.DecodeBundle(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("fhirclient: patient search: %w", err)
	}
	out := []connectors.PatientMatch{}
	for _, e := range b.Entry {
		if e.Search.Mode != "" && e.Search.Mode != "match" {
			continue
		}
		var p patient
		if json.Unmarshal(e.Resource, &p) != nil || p.ResourceType != "Patient" {
			continue
		}
		m := connectors.PatientMatch{ID: p.ID, Name: DisplayName(p.Name), BirthDate: p.BirthDate, Sex: p.Gender}
		if sys := patientSystem; sys != "" {
			m.ID = ""
			for _, id := range p.Identifier {
				if id.System == sys {
					m.ID = id.Value
				}
			}
			if m.ID == "" {
				continue
			}
		}
		for _, id := range p.Identifier {
			m.Identifiers = append(m.Identifiers, strings.TrimPrefix(id.System+"|"+id.Value, "|"))
		}
		out = append(out, m)
		if len(out) == maxMatches {
			break
		}
	}
	return out, nil
}

// patient is the part of a FHIR Patient a lookup shows.
type patient struct {
	ResourceType string               `json:"resourceType"`
	ID           string               `json:"id"`
	Identifier   []fhirdoc.Identifier `json:"identifier"`
	Name         []HumanName          `json:"name"`
	BirthDate    string               `json:"birthDate"`
	Gender       string               `json:"gender"`
}

// HumanName is the part of a FHIR HumanName that names a person on a
// screen. The gateway's SMART launch reads its patient's and clinician's
// names with it, so that a launch names people as a lookup does.
type HumanName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

// DisplayName is the official name (else the first) as one line: its
// text, or else its given names and family. A resource may carry several
// names (maiden, nickname, old); the official one is the one a clinician
// checks a chart against. No names: "".
func DisplayName(names []HumanName) string {
	if len(names) == 0 {
		return ""
	}
	n := names[max(0, slices.IndexFunc(names, func(n HumanName) bool { return n.Use == "official" }))]
	if n.Text != "" {
		return n.Text
	}
	return strings.TrimSpace(strings.Join(append(slices.Clone(n.Given), n.Family), " "))
}
