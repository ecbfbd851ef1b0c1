package gateway

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// demographics are the patient's name, birth date and sex as the recorder
// confirmed them (/v1/listen patient_name, patient_birth_date,
// patient_sex). They travel with the note to the reviewer and to EHRs that
// match documents on them; all are optional.
type demographics struct {
	name      string
	birthDate string // YYYY-MM-DD
	sex       string // FHIR administrative-gender code
}

// maxPatientNameBytes bounds patient_name. HL7 v2.4 allows 250 characters
// in PID-5; a name longer than this is a paste gone wrong.
const maxPatientNameBytes = 200

// set validates one demographic query parameter. Error texts describe the
// expected shape only, never the value: a name is PHI.
func (d *demographics) set(key, v string, now time.Time) error {
	switch key {
	case "patient_name":
		v = strings.Join(strings.Fields(v), " ")
		if v == "" || len(v) > maxPatientNameBytes || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return fmt.Errorf("patient_name must be the patient's name, 1 to %d bytes of text", maxPatientNameBytes)
		}
		d.name = v
	case "patient_birth_date":
		t, err := time.Parse(time.DateOnly, v)
		if err != nil || len(v) != len(time.DateOnly) {
			return errors.New("patient_birth_date must be a calendar date as YYYY-MM-DD")
		}
		if t.Year() < 1880 || t.After(now) {
			return errors.New("patient_birth_date must be a date between 1880 and today")
		}
		d.birthDate = v
	case "patient_sex":
		switch v {
		case "male", "female", "other", "unknown":
			d.sex = v
		default:
			return errors.New("patient_sex must be a FHIR administrative gender: male, female, other or unknown")
		}
	}
	return nil
}
