package athena

import (
	"errors"
	"strings"

	"github.com/scribegate/scribegate/connectors/auident"
)

// maxPatientIDDigits bounds an athenaOne patient id. The v1 API documents
// patientid as an integer; practices' ids run to millions, so ten digits
// or more is something else typed into the field, most often a Medicare or
// insurance number.
const maxPatientIDDigits = 9

// ValidatePatientID applies athenaOne's patient-id rule when a recording
// starts, so a wrong id is refused before the consultation rather than at
// push time: athenaOne's own numeric id, with no leading zero, never an
// identifier of another system (a Medicare number, an IHI, a FHIR token).
// Errors describe the shape, never the id.
func (c *Connector) ValidatePatientID(id string) error {
	return checkPatientID(id)
}

func checkPatientID(id string) error {
	switch {
	case id == "":
		return errors.New("an athenahealth patient id is required")
	case strings.ContainsAny(id, ":|"):
		return errors.New("athenahealth files by its own numeric patient id, not by another system's identifier")
	case !isDigits(id):
		return errors.New("an athenahealth patient id is a number (digits only)")
	case id[0] == '0':
		return errors.New("an athenahealth patient id has no leading zero")
	case len(id) > maxPatientIDDigits:
		if auident.ValidateMedicare(id) == nil {
			return errors.New("this looks like a Medicare number, not an athenahealth patient id")
		}
		return errors.New("an athenahealth patient id has at most 9 digits")
	}
	return nil
}
