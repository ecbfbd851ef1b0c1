// Package patientid decides whether the patient and encounter ids a
// recording names can be filed as given. Ids are stored, shown to the
// reviewer and sent to the EHR unchanged, so one the connector would have
// to rewrite (or that could be read as a path, a header or another
// patient) is refused when a session opens, where the clinician still sees
// the reason.
package patientid

import (
	"net/http"
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/gateway/apierror"
)

// Patterns are the shapes a connector's patient and encounter ids take
// when they are not FHIR resource ids (an MRN, an IHI, a visit number
// sent as identifiers in the connector's identifier system). A nil
// pattern means the FHIR id grammar. A pattern must match the whole id.
type Patterns struct {
	Patient, Encounter *regexp.Regexp
}

// Validator is what a connector with its own patient-id rules (an IHI's
// Luhn digit, an MRN's shape) implements; Check calls it, so a malformed id is refused before any audio is
// recorded against it. The error says why, with nothing of the id beyond
// its shape.
type Validator interface {
	ValidatePatientID(id string) error
}

// maxIDBytes bounds any patient or encounter id, whatever its pattern.
const maxIDBytes = 64

// Check refuses a patient or encounter id (encounter may be empty) that
// a connector with patterns pats and its own rules own (nil: none) would
// not file as given, with invalid_parameter naming the parameter; the
// message says what shape the id must take, never the id.
func Check(pats Patterns, own Validator, patient, encounter string) error {
	switch {
	case pats.Patient == nil && own != nil:
		// The connector's own rules replace the FHIR id grammar (C3).
		if !printableID(patient) {
			return idError("patient", nil, true)
		}
	case !validID(patient, pats.Patient):
		return idError("patient", pats.Patient, false)
	}
	if encounter != "" && !validID(encounter, pats.Encounter) {
		return idError("encounter", pats.Encounter, false)
	}
	if own != nil {
		if err := own.ValidatePatientID(patient); err != nil {
			return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidParameter, Param: "patient",
				Message: "patient is not an id this clinic's EHR accepts: " + err.Error()}
		}
	}
	return nil
}

// validID: the FHIR id grammar, or pattern when one is configured (and
// then printableID too, so no pattern lets through a line break, a NUL
// or a bidirectional override).
func validID(id string, pattern *regexp.Regexp) bool {
	if pattern == nil {
		return connectors.ValidID(id)
	}
	return printableID(id) && pattern.MatchString(id)
}

// printableID: 1 to maxIDBytes of printable UTF-8, no format characters.
func printableID(id string) bool {
	if id == "" || len(id) > maxIDBytes || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// idError says what shape param must take: pattern's, when there is one,
// else the FHIR id grammar, or (own) only printable text for a connector
// with rules of its own.
func idError(param string, pattern *regexp.Regexp, own bool) error {
	want := "a FHIR id: 1 to 64 letters, digits, '-' and '.'"
	switch {
	case pattern != nil:
		want = "an id of the form " + pattern.String()
	case own:
		want = "1 to 64 printable characters"
	}
	return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidParameter, Param: param,
		Message: param + " must be " + want}
}
